# Context for dockerignore-self: the ignore file lists itself and the Dockerfile.
echo a > a.txt
echo k > keep.txt
echo o > other
mkdir -p sub && echo s > sub/s.txt
printf 'Dockerfile\n.dockerignore\n*.txt\n!keep.txt\n' > .dockerignore
