echo bound > bound.txt
