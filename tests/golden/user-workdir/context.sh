echo f > f.txt
