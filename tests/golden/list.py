#!/usr/bin/env python3
"""Print the golden listing of a filesystem exported as a tar (used by record.sh).

record.sh exports with `-o type=tar`, not type=local: the local exporter of
docker/buildctl chowns every file to the user running the client, so the tar
is the only export that shows the ownership inside the image.

One sorted line per entry (the root itself is not listed):
    path type mode uid:gid size content [links=N]
type: f file, d dir, l symlink, c/b char/block device, p fifo.
mode: permission bits in octal (with setuid/setgid/sticky), 4 digits.
size and content: a file's byte size and sha256; a symlink's "-" and target;
"-" and "-" for everything else.  links=N is added to files with more than
one hard link inside the tree.  Entries `bin/NAME -> busybox` (the applet
links of the base image) are left out: every case has the same ~400.
tests/golden_buildkit.rs prints the same format from a directory tree.
"""
import hashlib
import sys
import tarfile

KINDS = {tarfile.REGTYPE: "f", tarfile.AREGTYPE: "f", tarfile.DIRTYPE: "d",
         tarfile.SYMTYPE: "l", tarfile.CHRTYPE: "c", tarfile.BLKTYPE: "b",
         tarfile.FIFOTYPE: "p", tarfile.LNKTYPE: "h"}


def norm(name):
    name = name.rstrip("/")
    while name.startswith("./"):
        name = name[2:]
    return name.lstrip("/")


def main(path):
    entries = {}
    links = {}  # hard link target path -> number of names
    with tarfile.open(path) as tar:
        for m in tar:
            rel = norm(m.name)
            if rel in ("", "."):
                continue
            k = KINDS.get(m.type, "?")
            if k == "l" and rel.startswith("bin/") and "/" not in rel[4:] and m.linkname == "busybox":
                continue
            if k == "h":
                target = norm(m.linkname)
                links[target] = links.get(target, 1) + 1
                entries[rel] = ("h", m, target)
                continue
            if k == "f":
                data = tar.extractfile(m).read()
                entries[rel] = ("f", m, (str(m.size), hashlib.sha256(data).hexdigest()))
            elif k == "l":
                entries[rel] = ("l", m, ("-", m.linkname))
            else:
                entries[rel] = (k, m, ("-", "-"))
    lines = []
    for rel, (k, m, extra) in entries.items():
        group = rel
        if k == "h":
            group = extra
            k, _, extra = entries[group]
        size, content = extra
        line = f"{rel} {k} {m.mode & 0o7777:04o} {m.uid}:{m.gid} {size} {content}"
        if k == "f" and links.get(group, 1) > 1:
            line += f" links={links[group]}"
        lines.append(line)
    for line in sorted(lines):
        print(line)


if __name__ == "__main__":
    main(sys.argv[1])
