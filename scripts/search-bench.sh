#!/usr/bin/env bash
# The search benchmark: a MariaDB database with MESSAGES messages (default 1,000,000)
# in 50 rooms by 200 people, words drawn from a 20,000-word vocabulary with a Zipf
# distribution (a few words in most messages, most words rare), then `loadtest search`
# asks each query ROUNDS times through `/api/search` as one member and prints p50/p95
# per query. The server runs pinned to CPU 0, the generator to CPU 1. Not a test: see
# docs/benchmarks.md ("Search").
#
#   scripts/search-bench.sh [MESSAGES] [ROUNDS]
#
# BENCH_BUFFER_POOL_MB=1024 sets MariaDB's innodb_buffer_pool_size for the run (and
# puts the old size back after): the default 128 MiB holds less than the messages.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
source scripts/local-server.sh

messages=${1:-1000000}
rounds=${2:-50}
target=${CARGO_TARGET_DIR:-target}
cargo build --release --quiet -p server
cargo build --release --quiet -p loadtest

work=$(mktemp -d)
database="search_bench_$$"
database_url="${BENCH_MYSQL:-mysql://root@127.0.0.1:3306}/$database"
sql() { mysql -h 127.0.0.1 -u root --local-infile=1 "$database" "$@"; }
server_pid=
pool_before=
cleanup() {
  [[ -n $pool_before ]] && mysql -h 127.0.0.1 -u root -e "SET GLOBAL innodb_buffer_pool_size = $pool_before"
  [[ -n $server_pid ]] && { kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; }
  mysql -h 127.0.0.1 -u root -e "DROP DATABASE IF EXISTS $database"
  rm -rf "$work"
}
trap cleanup EXIT
mysql -h 127.0.0.1 -u root -e "CREATE DATABASE $database CHARACTER SET utf8mb4"
if [[ -n ${BENCH_BUFFER_POOL_MB:-} ]]; then
  pool_before=$(mysql -h 127.0.0.1 -u root -N -e "SELECT @@innodb_buffer_pool_size")
  mysql -h 127.0.0.1 -u root -e "SET GLOBAL innodb_buffer_pool_size = $((BENCH_BUFFER_POOL_MB * 1024 * 1024))"
fi
echo "search-bench: innodb_buffer_pool_size $(mysql -h 127.0.0.1 -u root -N -e 'SELECT @@innodb_buffer_pool_size DIV 1048576') MiB"

# The schema (migrations) and the account that searches.
password="search bench password"
printf '%s\n' "$password" | "$target/release/server" --database-url "$database_url" user add searcher >/dev/null

echo "search-bench: generating $messages messages"
python3 - "$work" "$messages" <<'PY'
import itertools, random, sys
work, total = sys.argv[1], int(sys.argv[2])
rng = random.Random(11)
syllables = [a + b for a in "bcdfghjklmnprstvz" for b in "aeiou"]
vocabulary, seen = [], set()
while len(vocabulary) < 20000:
    word = "".join(rng.choice(syllables) for _ in range(rng.randint(2, 4)))
    if word not in seen:
        seen.add(word)
        vocabulary.append(word)
weights = list(itertools.accumulate(1 / (rank + 1) for rank in range(len(vocabulary))))
rooms, people = 50, 200
start = 1_700_000_000_000
with open(f"{work}/users.tsv", "w") as users:
    for i in range(people):
        users.write(f"person{i}\t!\t{start}\n")
with open(f"{work}/rooms.tsv", "w") as out:
    for r in range(rooms):
        kind = "private" if r >= 45 else "public"
        out.write(f"room-{r}\t{kind}\t{start}\t{(total + rooms - 1 - r) // rooms}\n")
with open(f"{work}/messages.tsv", "w") as out:
    for n in range(total):
        room, seq = n % rooms, n // rooms + 1
        words = rng.choices(vocabulary, cum_weights=weights, k=rng.randint(6, 14))
        out.write(f"{room}\t{seq}\t{rng.randrange(people)}\tseed-{n}\t{' '.join(words)}\t{start + n * 1000}\n")
# What to ask: words by rank (common, middling, rare), a prefix, two words at once.
with open(f"{work}/words", "w") as out:
    out.write(" ".join([vocabulary[2], vocabulary[300], vocabulary[15000], vocabulary[300][:4],
                        vocabulary[301], vocabulary[40]]) + "\n")
PY
read -r common middling rare prefix second frequent <"$work/words"

echo "search-bench: loading"
load_start=$SECONDS
sql <<SQL
LOAD DATA LOCAL INFILE '$work/users.tsv' INTO TABLE users (username, password_hash, created_at);
UPDATE users SET password_hash = (SELECT h FROM (SELECT password_hash AS h FROM users WHERE username = 'searcher') s)
  WHERE username LIKE 'person%';
LOAD DATA LOCAL INFILE '$work/rooms.tsv' INTO TABLE rooms (name, kind, created_at, last_seq);
LOAD DATA LOCAL INFILE '$work/messages.tsv' INTO TABLE messages
  (@room, seq, @author, client_id, body, sent_at)
  -- A fresh database: the searcher is user 1, person N user N + 2, room-N room N + 1.
  SET room_id = @room + 1, author_id = @author + 2;
-- The searcher is in the first private room, not in the other four.
INSERT INTO room_members (room_id, user_id, joined_at, role, last_read_seq)
  SELECT r.id, u.id, 0, 'member', r.last_seq FROM rooms r, users u
  WHERE r.name = 'room-45' AND u.username = 'searcher';
SQL
# Loaded with the FULLTEXT index in place, as the server's own inserts keep it.
sql -e "ANALYZE TABLE messages;" >/dev/null
echo "search-bench: loaded and indexed in $((SECONDS - load_start)) s"

port=$(free_port)
log="$work/server.log"
taskset -c 0 "$target/release/server" --addr "127.0.0.1:$port" --database-url "$database_url" \
  --site-root target/site >"$log" 2>&1 &
server_pid=$!
await_server "http://127.0.0.1:$port" "$server_pid" "$log"
echo "search-bench: $(sql -N -e 'SELECT COUNT(*) FROM messages') messages; $(nproc) cores; $(uname -r)"
LOADTEST_PASSWORD=$password taskset -c 1 "$target/release/loadtest" --url "http://127.0.0.1:$port" search \
  --username searcher --rounds "$rounds" \
  --query "$common" --query "$middling" --query "$rare" --query "$prefix" \
  --query "$middling $second" --query "$frequent from:@person7" --query "$common in:#room-3" \
  --query "from:@person7" --query "$rare in:#room-45"
