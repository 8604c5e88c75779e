# Context for copy-links: symlinks (to a file, to a dir, dangling, absolute) and hard links.
mkdir -p d/inner
echo target > d/target.txt
echo in > d/inner/x.txt
ln -s target.txt d/link-to-file
ln -s inner d/link-to-dir
ln -s missing d/dangling
ln -s /etc/passwd d/absolute
echo hard > d/hard1
ln d/hard1 d/hard2
ln -s d/target.txt top-link
