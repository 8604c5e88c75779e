# Context for dockerignore: the table of /work/shared/DEPENDENCIES.md §4 plus ! and **.
mkdir -p docs app/node_modules node_modules build-dir src ax deep/a/b/logs keepdir/sub other
for f in README.md docs/guide.md app/node_modules/x.js node_modules/y.js src/main.rs \
  axb ax/b bfile afile bar foo.txt keepdir/keep.md keepdir/drop.txt keepdir/sub/also.md \
  deep/a/b/logs/x.log deep/top.log other/z.tmp other/z.txt; do echo "$f" > "$f"; done
echo build-file > build
cat > .dockerignore <<'IGN'
# comment
*.md
node_modules
build/
a**b
[!a]file
foo/../bar
**/*.log
*.tmp
keepdir
!keepdir/keep.md
!keepdir/sub
 # not a comment: leading whitespace is trimmed, then it is a pattern
IGN
