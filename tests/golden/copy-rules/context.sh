# Context for copy-rules: a nested dir, loose files, files and dirs matching one wildcard.
mkdir -p dir/sub dir/empty wild-dir-a/inner wild-dir-b
echo top > dir/top.txt
echo deep > dir/sub/deep.txt
echo one > file1.txt
echo two > file2.txt
echo data > data.bin
echo wa > wild-dir-a/inner/a.txt
echo wb > wild-dir-b/b.txt
echo wf > wild-file
chmod 0750 dir/sub
chmod 0600 file2.txt
