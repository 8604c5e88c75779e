# Context for copy-chown-chmod.
mkdir -p tree/sub
echo f > f.txt
echo t > tree/t.txt
echo s > tree/sub/s.txt
chmod 0640 f.txt
