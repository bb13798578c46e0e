#!/bin/sh
# Checks the C files under broker/ worker/ client/ common/ tests/ against
# the repository's .clang-format, except those listed in format-exclude
# (written before it; see that file). Prints what clang-format would change.
# Usage: tests/style/check_format.sh [--fix] [SOURCE_DIR]
#   --fix   rewrite the files that differ (clang-format -i), excluded ones
#           never
# Exits 0 if every checked file is formatted, 1 if not, 77 (skipped) without
# clang-format 14: other versions format differently, and their differences
# would be false failures. CLANG_FORMAT names another binary.
set -eu
fix=no
if [ "${1:-}" = --fix ]; then
    fix=yes
    shift
fi
src=$(cd "${1:-$(dirname "$0")/../..}" && pwd)
cd "$src"
clang_format=${CLANG_FORMAT:-clang-format}

if ! command -v "$clang_format" >/dev/null 2>&1; then
    echo "check_format: skipped: no $clang_format (Debian: apt-get install clang-format)"
    exit 77
fi
version=$("$clang_format" --version | sed -n 's/.*version \([0-9]*\)\..*/\1/p')
if [ "$version" != 14 ]; then
    echo "check_format: skipped: $clang_format is version ${version:-unknown}, the style is clang-format 14's"
    exit 77
fi

# Tracked and new (untracked, not ignored) files, so that a file not yet
# added is checked too; outside a git checkout, every file.
if [ -e .git ] && command -v git >/dev/null 2>&1; then
    files=$(git ls-files --cached --others --exclude-standard \
                'broker/*.[ch]' 'worker/*.[ch]' 'client/*.[ch]' \
                'common/*.[ch]' 'tests/*.[ch]' | sort -u)
else
    files=$(find broker worker client common tests -name '*.[ch]' | sort)
fi
excluded=$(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' tests/style/format-exclude)

checked=0
bad=""
for file in $files; do
    [ -f "$file" ] || continue  # deleted, not yet staged
    if printf '%s\n' "$excluded" | grep -qxF "$file"; then
        continue
    fi
    checked=$((checked + 1))
    if ! "$clang_format" --style=file "$file" | diff -u --label "$file" \
            --label "$file (clang-format)" "$file" -; then
        bad="$bad $file"
    fi
done

if [ -z "$bad" ]; then
    echo "check_format: $checked files formatted as .clang-format says"
    exit 0
fi
if [ "$fix" = yes ]; then
    "$clang_format" --style=file -i $bad
    echo "check_format: reformatted$bad"
    exit 0
fi
echo "check_format: not formatted as .clang-format says:$bad"
echo "check_format: tests/style/check_format.sh --fix rewrites them"
exit 1
