#!/usr/bin/env bash
# man-synopsis-test.sh PGRACE_BIN SOURCE_DIR: every subcommand `pgrace --help`
# lists has its line in the man page's SYNOPSIS (before: clean had none).
set -euo pipefail
bin=${PGRACE_TEST_BIN:-$1}
man=$2/man/pgrace.1
synopsis=$(sed -n '/^\.SH SYNOPSIS/,/^\.SH /p' "$man")
commands=$("$bin" --help | sed -n 's/^  pgrace \([a-z][a-z]*\).*/\1/p' | sort -u)
[[ -n "$commands" ]] || { echo "FAIL: no subcommand found in pgrace --help"; exit 1; }
rc=0
for c in $commands; do
	if ! grep -qx "\.B $c" <<<"$synopsis"; then
		echo "FAIL: the SYNOPSIS of $man lacks pgrace $c"
		rc=1
	fi
done
((rc)) || echo "ok: the SYNOPSIS lists" "${commands//$'\n'/ }"
exit "$rc"
