#!/bin/sh
# Seeds fuzz/corpus/parse (gitignored) from BuildKit's conformance
# Dockerfiles in ../shared plus a few heredoc and directive samples.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
data="$here/../../shared/conformance/buildkit/parser"
[ -d "$data" ] || { echo "missing conformance data: $data" >&2; exit 1; }
out="$here/corpus/parse"
mkdir -p "$out"
for f in "$data"/testfiles/*/Dockerfile "$data"/testfiles-negative/*/Dockerfile "$data"/testfile-line/Dockerfile; do
	case_name=$(basename "$(dirname "$f")")
	cp "$f" "$out/conformance-$case_name"
done
printf 'FROM a\nRUN <<EOF <<-"E2" cat > /f\nx\nEOF\n\ty\n\tE2\nONBUILD COPY <<X /d\nz\nX\n' > "$out/heredocs"
printf '# syntax=x\n# escape=`\nFROM a\nRUN a `\n  b\nCMD ["a\\u00e9", "\\ud800"]\n' > "$out/directives"
printf '\357\273\277FROM a\r\nENV a=b c="d e" \\\r\n  f=g\r\nLABEL x y\r\n' > "$out/bom-crlf"
echo "seeded $(ls "$out" | wc -l) files into $out"
