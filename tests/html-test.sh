#!/usr/bin/env bash
# html-test.sh: the HTML report, rendered by a real browser (Debian's
# chromium, headless, every host name resolving nowhere).
#
#   tests/html-test.sh PGRACE_BIN SOURCE_DIR
#
# Against the server the PG* variables name (scripts/test.sh starts one):
# the seed scenario (hold and fire) and a mutant whose 005 adds a CHECK
# instead of UNIQUE, each with --html; a result document whose strings are
# hostile, through `pgrace report`; a run whose phase name, SQL, server
# message and command output are hostile; the psql app example. From the
# DOM chromium prints after rendering: the verdict and exit code, the
# mutant's failed expectations, every phase, the race map's 20 cells per
# interleave phase, the swimlane timelines of the first duplicated round and
# of the first passing round after the migration (hold and fire; one lane
# per worker starting with its BEGIN, COMMITs, blocked steps with their
# SQLSTATE and constraint), the app rounds' lanes (one per process: its
# BEGIN, held COMMITs, blocked INSERTs ending in 23505, its exit), hostile
# text as text (no
# element it could inject, U+FFFE escaped); from chromium's net log, that
# the page asked the network for nothing (and that the log would show it).
# With PGRACE_SCREENSHOT=FILE it also writes the PNG of the seed's page.
# Exits 77 (skipped) when chromium is missing, unless CI is set.
set -euo pipefail

bin=$1
src=$2
chromium=$(command -v chromium || true)
if [[ -z "$chromium" ]]; then
	if [[ -n "${CI:-}" ]]; then
		echo "html-test: chromium is not installed (scripts/setup.sh installs it)" >&2
		exit 1
	fi
	echo "html-test: skipped: no chromium" >&2
	exit 77
fi

tmp=$(mktemp -d /tmp/pgrace-html.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fails=0

fail() {
	echo "html-test: FAIL: $*" >&2
	fails=$((fails + 1))
}

# The DOM of a page after rendering, with the network cut.
dom() {
	timeout 120 "$chromium" --headless --no-sandbox --disable-gpu --user-data-dir="$tmp/profile" \
		--host-resolver-rules="MAP * ~NOTFOUND" --dump-dom "file://$1" 2>/dev/null
}

# What a page asked the network for, one URL a line: chromium's net log,
# the requests made for the file:// page itself (not the browser's own).
requests() {
	timeout 120 "$chromium" --headless --no-sandbox --disable-gpu --user-data-dir="$tmp/profile" \
		--host-resolver-rules="MAP * ~NOTFOUND" --log-net-log="$tmp/net.json" \
		--dump-dom "file://$1" >/dev/null 2>&1
	jq -r '.constants.logEventTypes.URL_REQUEST_START_JOB as $t | .events[]
		| select(.type == $t) | .params
		| select((.network_isolation_key // "") | startswith("file://"))
		| .url | select(startswith("file:") | not)' "$tmp/net.json"
}

count() { # count PATTERN FILE: lines of grep -o (0 when none)
	{ grep -o -- "$1" "$2" || true; } | wc -l
}

# 1. the seed scenario, hold mode: passes
"$bin" run "$src/scenarios/membership-unique.yaml" -q --json "$tmp/seed.json" --html "$tmp/seed.html" ||
	fail "the seed scenario did not pass"
dom "$tmp/seed.html" >"$tmp/seed.dom"
grep -q 'id="verdict"' "$tmp/seed.dom" || fail "seed: no verdict header"
grep -q '<h1><span class="v pass">pass</span></h1>' "$tmp/seed.dom" || fail "seed: verdict is not pass"
grep -q '<b id="exit-code">0</b>' "$tmp/seed.dom" || fail "seed: exit code 0 not shown"
grep -q 'none: every expectation held' "$tmp/seed.dom" || fail "seed: failures section not empty"
for phase in $(jq -r '.phases[].name' "$tmp/seed.json"); do
	grep -q "class=\"phase\" id=\"phase-[0-9]*\" data-phase=\"$phase\"" "$tmp/seed.dom" ||
		fail "seed: phase $phase has no section"
done
n_ilv=$(jq '[.phases[] | select(.interleave != null)] | length' "$tmp/seed.json")
cells=$(count 'class="cell ' "$tmp/seed.dom")
((n_ilv == 2 && cells == 40)) || fail "seed: race map has $cells cells for $n_ilv interleave phases, expected 20 each"
for ph in interleave-before interleave-after; do
	c=$(sed -n "/data-phase=\"$ph\"><text/,/<\/g>/p" "$tmp/seed.dom" | { grep -o 'class="cell ' || true; } | wc -l)
	((c == 20)) || fail "seed: race map of $ph has $c cells, expected 20"
done
dups=$(sed -n '/data-phase="interleave-before"><text/,/<\/g>/p' "$tmp/seed.dom" | { grep -o 'class="cell dup"' || true; } | wc -l)
((dups == 18)) || fail "seed: race map shows $dups duplicated orders before the migration, expected 18"
# hold rounds' timelines: the first duplicated round of each phase without the
# migration, the first passing round of the phase with it; one lane per worker
section() { # section PHASE DOM: that phase's section of the page
	sed -n "/<section class=\"phase\" id=\"phase-[0-9]*\" data-phase=\"$1\">/,/<\/section>/p" "$2"
}
for ph in before downgrade; do
	sec=$(section "$ph" "$tmp/seed.dom")
	lanes=$(count 'class="lane" data-worker=' - <<<"$sec")
	grep -q 'the first that left duplicates' <<<"$sec" ||
		fail "seed: $ph has no timeline of its first duplicated round"
	((lanes == 16)) || fail "seed: $ph's timeline has $lanes lanes, expected 16"
	commits=$(count 'class="st commit"' - <<<"$sec")
	((commits == 16)) || fail "seed: $ph's timeline shows $commits COMMITs, expected 16"
	begins=$(count 'class="st begin"' - <<<"$sec")
	((begins == 16)) || fail "seed: $ph's timeline shows $begins BEGINs, expected one per worker (16)"
	first=$(grep -o '<g class="lane" data-worker="a">.*' <<<"$sec" | head -1)
	[[ "$first" == *'worker a</text><rect class="st begin"'*'<rect class="st"'* ]] ||
		fail "seed: $ph's lane a does not start with its BEGIN before its statement"
done
jq -e '[.phases[] | (.first_duplicate_round, .first_passing_round) | select(. != null)
	| .steps | map(select(.step | test("^[a-z]+0$")))
	| (length > 0 and all(.sent_us >= 0 and .done_us >= .sent_us))] | length > 0 and all' \
	"$tmp/seed.json" >/dev/null || fail "seed: the JSON's rounds hold no BEGIN (step a0) with its times"
after=$(section after "$tmp/seed.dom")
grep -q 'the first with the migration applied that left no duplicates' <<<"$after" ||
	fail "seed: after has no timeline of its first passing round"
lanes=$(count 'class="lane" data-worker=' - <<<"$after")
((lanes == 16)) || fail "seed: after's timeline has $lanes lanes, expected 16"
blocked=$(count 'class="st err blocked"' - <<<"$after")
((blocked == 15)) || fail "seed: after's timeline shows $blocked blocked INSERTs ending in 23505, expected 15"
grep -q 'blocked until the COMMITs were released, 23505 (uq_user_tenant_membership_user_tenant)' <<<"$after" ||
	fail "seed: a blocked step does not name its SQLSTATE and constraint"
for ph in interleave-before interleave-after precheck migrate baseline; do
	if grep -q 'class="timeline"' <<<"$(section "$ph" "$tmp/seed.dom")"; then
		fail "seed: $ph has a timeline but raced no round that asks for one"
	fi
done
grep -q '<footer>' "$tmp/seed.dom" || fail "seed: the page did not render whole with the network cut"
if grep -Eq '(src|href)="(https?:)?//' "$tmp/seed.html"; then
	fail "seed: the page refers to something on the network"
fi
asked=$(requests "$tmp/seed.html")
[[ -z "$asked" ]] || fail "seed: the page asked the network for: $asked"
# the net log does see a page's requests: the same page with an image from
# the network and without its Content-Security-Policy asks for it
sed -e 's|<meta http-equiv="Content-Security-Policy"[^>]*>||' \
	-e 's|<footer>|<img src="http://pgrace-html-test.invalid/x.png"><footer>|' \
	"$tmp/seed.html" >"$tmp/leaky.html"
grep -q 'pgrace-html-test.invalid' <<<"$(requests "$tmp/leaky.html")" ||
	fail "the net log did not show the request of a page that makes one"
if [[ -n "${PGRACE_SCREENSHOT:-}" ]]; then
	timeout 120 "$chromium" --headless --no-sandbox --disable-gpu --user-data-dir="$tmp/profile" \
		--host-resolver-rules="MAP * ~NOTFOUND" --hide-scrollbars --window-size=1100,2000 \
		--screenshot="$PGRACE_SCREENSHOT" "file://$tmp/seed.html" 2>/dev/null
fi

# 2. fire mode: the first duplicated round's timeline and the first passing
# round's after the migration, one lane per worker
"$bin" run "$src/scenarios/membership-unique.yaml" -q -m fire --json "$tmp/fire.json" --html "$tmp/fire.html" ||
	fail "the seed scenario did not pass in fire mode"
dom "$tmp/fire.html" >"$tmp/fire.dom"
lanes=$(count 'class="lane" data-worker=' "$tmp/fire.dom")
want=$(jq '[.phases[] | .workers as $w | (.first_duplicate_round, .first_passing_round) | select(. != null) | $w] | add // 0' "$tmp/fire.json")
((want > 0 && lanes == want)) || fail "fire: $lanes timeline lanes, expected $want (one per worker of each timeline)"
jq -e '.phases[] | select(.name == "after") | .first_passing_round.steps | length > 0' "$tmp/fire.json" >/dev/null ||
	fail "fire: no first passing round after the migration in the JSON"
grep -q 'the first with the migration applied that left no duplicates' <<<"$(section after "$tmp/fire.dom")" ||
	fail "fire: after has no timeline of its first passing round"

# 3. a mutant: 005 adds a CHECK, not UNIQUE; the page puts its failures first
sed 's/UNIQUE (user_id, tenant_id);/CHECK (user_id IS NOT NULL);/' \
	"$src/scenarios/membership-unique.yaml" >"$tmp/mutant.yaml"
rc=0
"$bin" run "$tmp/mutant.yaml" -q --json "$tmp/mutant.json" || rc=$?
((rc == 1)) || fail "mutant: exit $rc, expected 1"
"$bin" report "$tmp/mutant.json" -o "$tmp/mutant.html" || fail "pgrace report failed"
dom "$tmp/mutant.html" >"$tmp/mutant.dom"
grep -q '<b id="exit-code">1</b>' "$tmp/mutant.dom" || fail "mutant: exit code 1 not shown"
want=$(jq '[.phases[].expectations[] | select(.passed == false)] | length' "$tmp/mutant.json")
got=$(count 'class="failed-expectation"' "$tmp/mutant.dom")
((want > 0 && got == want)) || fail "mutant: $got failed expectations shown, expected $want"
first=$(jq -r '[.phases[].expectations[] | select(.passed == false)][0].expect' "$tmp/mutant.json")
before_failures=$(sed -n '1,/<\/section>/p' "$tmp/mutant.dom")
grep -qF -- "$first" <<<"$before_failures" || fail "mutant: the first failed expectation ($first) is not in the first section"

# 4. hostile strings from the result document stay text
jq '.scenario = "<script>document.title=\"pwned\"</script>"
    | .phases[0].name = "\"><img src=x onerror=alert(1)>"
    | .phases[0].messages = {"23505": "a \u001b[2J b \u202e c <b>& ]]> \ufffe"}
    | .error = "</section><script>alert(2)</script>"' "$tmp/seed.json" >"$tmp/hostile.json"
"$bin" report "$tmp/hostile.json" -o "$tmp/hostile.html" || fail "pgrace report of the hostile document failed"
dom "$tmp/hostile.html" >"$tmp/hostile.dom"
if grep -q '<script' "$tmp/hostile.dom" || grep -q '<img' "$tmp/hostile.dom" || grep -q '<b>&' "$tmp/hostile.dom"; then
	fail "hostile: markup from the document reached the DOM"
fi
grep -qF '&lt;script&gt;document.title' "$tmp/hostile.dom" || fail "hostile: the scenario name is not shown as text"
grep -qF '\x1b[2J' "$tmp/hostile.dom" || fail "hostile: the escape character is not shown escaped"
grep -qF '\u202e' "$tmp/hostile.dom" || fail "hostile: the bidi override is not shown escaped"
grep -q '<title>pgrace: &lt;script&gt;' "$tmp/hostile.dom" || fail "hostile: the title was changed by the document"

# 4b. a real run whose phase name, SQL, server message and command output are
# hostile: markup, quotes, ESC, a bidi override, U+FFFE (a noncharacter, an
# HTML parse error) and a byte that is not UTF-8, all shown as text
cat >"$tmp/hostile-run.yaml" <<'YAML'
name: hostile-page
description: hostile strings from SQL, the server and a command
schema: CREATE TABLE t (k int)
params: [round]
rows: SELECT count(*) FROM t WHERE k = $1
flow:
  - sql: INSERT INTO t VALUES ($1)
phases:
  - name: "<script>alert(1)</script>\"q' x"
    steps:
      - sql: SELECT E'<script>alert(2)</script>"q''\u202e\x01 \uFFFE'::int
        expect_error: "22P02"
      - shell: true
        command: "printf '<script>alert(3)</script>\"q\\047 \\033[2J \\357\\277\\276 \\342\\200\\256 \\377 end\\n' >&2; exit 1"
YAML
rc=0
"$bin" run "$tmp/hostile-run.yaml" -q --html "$tmp/hostile-run.html" 2>/dev/null || rc=$?
((rc == 1)) || fail "hostile run: exit $rc, expected 1 (its command fails)"
dom "$tmp/hostile-run.html" >"$tmp/hostile-run.dom"
if grep -q '<script\|<img' "$tmp/hostile-run.dom"; then
	fail "hostile run: markup from the run reached the DOM"
fi
for want in '&lt;script&gt;alert(1)&lt;/script&gt;' '&lt;script&gt;alert(2)&lt;/script&gt;' \
	'&lt;script&gt;alert(3)&lt;/script&gt;' '\u202e' '\x1b[2J' '\x01' '\ufffe'; do
	grep -qF -- "$want" "$tmp/hostile-run.dom" || fail "hostile run: $want is not in the page as text"
done
if LC_ALL=C grep -q $'\xef\xbf\xbe' "$tmp/hostile-run.html"; then
	fail "hostile run: U+FFFE went into the page raw"
fi
grep -q '<footer>' "$tmp/hostile-run.dom" || fail "hostile run: the page did not render whole"
asked=$(requests "$tmp/hostile-run.html")
[[ -z "$asked" ]] || fail "hostile run: the page asked the network for: $asked"

# 4c. an app flow (examples/psql-app: psql through pgrace's listener): each
# kept round's timeline has a lane per worker's process, each with its
# BEGIN and its exit; after the migration the losers' INSERTs end in 23505
# with the constraint, and a COMMIT waited at the listener
if command -v psql >/dev/null; then
	"$bin" run "$src/examples/psql-app/psql-app.yaml" -q --json "$tmp/app.json" --html "$tmp/app.html" ||
		fail "the psql app example did not pass"
	dom "$tmp/app.html" >"$tmp/app.dom"
	for ph in before after; do
		sec=$(section "$ph" "$tmp/app.dom")
		w=$(jq --arg ph "$ph" '.phases[] | select(.name == $ph) | .workers' "$tmp/app.json")
		figs=$(count '<figure class="timeline app-timeline">' - <<<"$sec")
		((figs == 1)) || fail "app: $ph has $figs app timelines, expected 1 (its kept round)"
		lanes=$(count 'class="lane" data-worker=' - <<<"$sec")
		((lanes == w)) || fail "app: $ph's timeline has $lanes lanes, expected one per worker ($w)"
		begins=$(count 'class="st begin"' - <<<"$sec")
		((begins == w)) || fail "app: $ph's timeline shows $begins BEGINs, expected $w"
		exits=$(count '<rect class="exit' - <<<"$sec")
		((exits == w)) || fail "app: $ph's timeline shows $exits process exits, expected $w"
		held=$(count '<line class="held"' - <<<"$sec")
		((held >= 1)) || fail "app: $ph's timeline shows no COMMIT held at the listener"
	done
	after=$(section after "$tmp/app.dom")
	losers=$(count 'class="st err blocked"' - <<<"$after")
	w=$(jq '.phases[] | select(.name == "after") | .workers' "$tmp/app.json")
	((losers == w - 1)) || fail "app: after's timeline shows $losers blocked INSERTs ending in an error, expected $((w - 1))"
	grep -q 'statement: in at [0-9]* us, sent at [0-9]* us, answered at [0-9]* us, blocked until the COMMITs were released, 23505 (uq_membership)' <<<"$after" ||
		fail "app: a loser's INSERT does not name its SQLSTATE and constraint"
	grep -q 'exited with status 3 at [0-9]* us' <<<"$after" || fail "app: a loser's exit status is not on its lane"
	asked=$(requests "$tmp/app.html")
	[[ -z "$asked" ]] || fail "app: the page asked the network for: $asked"
elif [[ -n "${CI:-}" ]]; then
	fail "psql is not installed (scripts/setup.sh installs it): the app flow's page is not checked"
else
	echo "html-test: no psql: the app flow's page is not checked" >&2
fi

# 5. bad input to pgrace report: file:line and exit 2
printf '{"phases": [}\n' >"$tmp/bad.json"
rc=0
"$bin" report "$tmp/bad.json" -o "$tmp/bad.html" 2>"$tmp/bad.err" || rc=$?
((rc == 2)) || fail "report of bad JSON: exit $rc, expected 2"
grep -q "bad.json:1:" "$tmp/bad.err" || fail "report of bad JSON does not say where: $(cat "$tmp/bad.err")"
printf '{"scenario": "a\xffb", "verdict": "pass", "phases": []}\n' >"$tmp/notutf8.json"
rc=0
"$bin" report "$tmp/notutf8.json" -o "$tmp/notutf8.html" 2>"$tmp/bad.err" || rc=$?
((rc == 2)) || fail "report of a document that is not UTF-8: exit $rc, expected 2"
grep -q "notutf8.json:1:" "$tmp/bad.err" || fail "report of a document that is not UTF-8 does not say where"
[[ ! -e "$tmp/notutf8.html" ]] || fail "report of a document that is not UTF-8 wrote a page"
rc=0
"$bin" report "$tmp/seed.json" -o "$tmp/seed.json" 2>/dev/null || rc=$?
((rc == 2)) || fail "report -o naming its input: exit $rc, expected 2"
jq -e '.phases' "$tmp/seed.json" >/dev/null || fail "report -o naming its input overwrote it"

if ((fails)); then
	echo "html-test: $fails failure(s)" >&2
	exit 1
fi
echo "html-test: ok"
