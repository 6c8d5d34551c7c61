#!/bin/bash
# Digest width at scale, on PostgreSQL alone: a table shaped like access_tokens
# with a 64-hex text primary key (database collation, and COLLATE "C") beside
# one with a 32-byte bytea key; pgbench
# inserts (empty, then with 5 million rows) and lookups, WAL bytes per insert,
# index and table sizes. Creates and drops its own database (digest_exp) on
# 127.0.0.1:5432 as postgres; takes about 4 minutes. Figures: README, Scaling.
#   bash bench/experiments/digest-width.sh      (SECS=10 seconds per run)
set -e
PSQL="psql -h 127.0.0.1 -U postgres -X -q -At"
PGB=$(command -v pgbench || ls /usr/lib/postgresql/*/bin/pgbench | tail -n 1)
cd "$(mktemp -d)"
DB=digest_exp
$PSQL -c "drop database if exists $DB" -c "create database $DB"
for t in hex hexc bin; do
  case $t in hex) ty=text ;; hexc) ty='text collate "C"' ;; bin) ty=bytea ;; esac
  $PSQL -d $DB -c "create table t_$t (token_digest $ty primary key, client_id uuid not null, scope text not null, kind text not null, expires_at timestamptz, created_at timestamptz not null, audience text[] not null default '{}')"
done
echo "insert into t_hex (token_digest, client_id, scope, kind, expires_at, created_at) values (encode(sha256(gen_random_uuid()::text::bytea), 'hex'), '00000000-0000-0000-0000-000000000001', 'read', 'bearer', now() + interval '2 hours', now());" > ins_hex.sql
sed 's/t_hex/t_hexc/' ins_hex.sql > ins_hexc.sql
echo "insert into t_bin (token_digest, client_id, scope, kind, expires_at, created_at) values (sha256(gen_random_uuid()::text::bytea), '00000000-0000-0000-0000-000000000001', 'read', 'bearer', now() + interval '2 hours', now());" > ins_bin.sql
printf '\\set i random(1, 5000000)\nselect scope, client_id, expires_at from t_hex where token_digest = encode(sha256(:i::text::bytea), '"'"'hex'"'"');\n' > get_hex.sql
sed 's/t_hex/t_hexc/' get_hex.sql > get_hexc.sql
printf '\\set i random(1, 5000000)\nselect scope, client_id, expires_at from t_bin where token_digest = sha256(:i::text::bytea);\n' > get_bin.sql
measure() { # phase kind script
  $PSQL -d $DB -c checkpoint
  local l0=$($PSQL -d $DB -c "select pg_current_wal_lsn()")
  local out=$($PGB -h 127.0.0.1 -U postgres -n -c 10 -j 2 -T ${SECS:-10} -M prepared -f $3 $DB 2>&1)
  local l1=$($PSQL -d $DB -c "select pg_current_wal_lsn()")
  local tx=$(echo "$out" | sed -n 's/number of transactions actually processed: \([0-9]*\).*/\1/p')
  local tps=$(echo "$out" | sed -n 's/tps = \([0-9.]*\) .*/\1/p')
  local wal=$($PSQL -d $DB -c "select round(pg_wal_lsn_diff('$l1', '$l0') / $tx)")
  echo "$1 $2 $3 tps=$tps wal_bytes_per_tx=$wal"
}
for r in 1 2; do for t in hex hexc bin; do measure empty $t ins_$t.sql; done; done
for t in hex hexc bin; do
  if [ $t != bin ]; then d="encode(sha256(i::text::bytea), 'hex')"; else d="sha256(i::text::bytea)"; fi
  s=$(date +%s)
  $PSQL -d $DB -c "insert into t_$t (token_digest, client_id, scope, kind, expires_at, created_at) select $d, '00000000-0000-0000-0000-000000000001', 'read', 'bearer', now() + interval '2 hours', now() from generate_series(1, 5000000) i"
  $PSQL -d $DB -c "vacuum analyze t_$t"
  echo "seeded t_$t in $(( $(date +%s) - s )) s: table $($PSQL -d $DB -c "select pg_size_pretty(pg_table_size('t_$t'))"), pk index $($PSQL -d $DB -c "select pg_size_pretty(pg_relation_size('t_${t}_pkey'))")"
done
for r in 1 2; do for t in hex hexc bin; do measure seeded $t ins_$t.sql; done; done
for r in 1 2; do for t in hex hexc bin; do measure seeded $t get_$t.sql; done; done
$PSQL -c "drop database $DB"
