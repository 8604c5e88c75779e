# Context for copy-merge: a tree to merge over an existing one.
mkdir -p tree/sub
echo new-a > tree/a
echo new-sub > tree/sub/s
echo f > f.txt
chmod 0700 tree
