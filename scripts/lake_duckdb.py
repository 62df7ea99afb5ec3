"""The checkout demo's data lake as an analyst reads it, with DuckDB.

Reads every Parquet file lake-archiver wrote under DIR/lake/raw/orders (Hive partitions dt= and
hour=), takes the latest row per order by sequence number, counts orders by state, and compares
that with DIR/orders-by-state.json, the orders table at the end of the same demo (`local demo
--flows checkout --out DIR`). The stream was delivered twice with other batch sizes, so files
overlap; the latest row per order does not care. Exits 1 on any difference.
"""
import json
import pathlib
import sys

import duckdb

root = pathlib.Path(sys.argv[1])
files = str(root / "lake" / "raw" / "orders" / "**" / "*.parquet")
con = duckdb.connect()
# A path is not a parameter a view can take: quoted as an SQL string instead.
quoted = "'" + files.replace("'", "''") + "'"
con.sql(f"create view raw_orders as select * from read_parquet({quoted}, hive_partitioning = true)")

latest = dict(
    con.sql(
        """
        select coalesce(state, 'removed') as state, count(*) from (
          select order_id, state from raw_orders
          qualify row_number() over (partition by order_id order by seq desc) = 1
        ) group by all order by all
        """
    ).fetchall()
)
expected = json.loads((root / "orders-by-state.json").read_text())

rows, changes, bad_seq, partitions = con.sql(
    """
    select count(*), count(distinct seq),
           count(*) filter (where length(seq) <> 40 or not regexp_full_match(seq, '[0-9]+')),
           count(distinct (dt, hour))
    from raw_orders
    """
).fetchone()
# Each row sits in the partition of its change time.
misplaced = con.sql(
    """
    select count(*) from raw_orders
    where strftime(change_time at time zone 'UTC', '%Y-%m-%d') <> cast(dt as varchar)
       or cast(strftime(change_time at time zone 'UTC', '%H') as integer) <> cast(hour as integer)
    """
).fetchone()[0]
versions = [
    v
    for (v,) in con.sql(
        f"select distinct decode(value) from parquet_kv_metadata({quoted})"
        " where decode(key) = 'orders_raw.schema_version'"
    ).fetchall()
]
leaks = con.sql(
    "select count(*) from raw_orders where contains(new_image, 'tok_') or contains(new_image, '\"fp-')"
).fetchone()[0]

print(f"raw zone: {rows} rows, {changes} changes, {partitions} hour partitions, schema versions {versions}")
print(f"latest row per order by state: {latest}")
print(f"orders table by state:         {expected}")
problems = []
if latest != expected:
    problems.append("the raw zone's latest states are not the orders table's")
if rows <= changes:
    problems.append("the stream was delivered twice, so some changes should be in two files")
if bad_seq or misplaced or leaks:
    problems.append(f"{bad_seq} bad sequence numbers, {misplaced} rows in another hour's partition, {leaks} payment secrets")
if versions != ["1"]:
    problems.append(f"schema versions {versions}, expected ['1']")
if problems:
    sys.exit("lake check failed: " + "; ".join(problems))
print("lake check: the raw zone read with DuckDB agrees with the orders table")
