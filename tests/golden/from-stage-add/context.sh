# Context for from-stage-add: a tar archive (ADD unpacks it) and a plain file.
mkdir -p payload/dir
echo in-tar > payload/dir/t.txt
ln -s dir/t.txt payload/link
tar -C payload --owner=11 --group=12 --numeric-owner -cf archive.tar dir link
gzip -n -c archive.tar > archive.tar.gz
rm -rf payload
