-- Every built-in Postgres type family with edge values, plus enums,
-- domains, composites and extension types. Used by the capture test
-- (capture/postgres/types_test.go) and the warehouse round trip
-- (sink/warehouse/types_test.go): each captures table "types", compares
-- every column with what Postgres prints for the same row.
CREATE EXTENSION IF NOT EXISTS hstore;
CREATE EXTENSION IF NOT EXISTS citext;
CREATE EXTENSION IF NOT EXISTS ltree;
CREATE TYPE mood AS ENUM ('happy', 'sad', 'ünïcode');
CREATE TYPE comp AS (a int, b text, c numeric[]);
CREATE DOMAIN posint AS integer CHECK (VALUE > 0);
CREATE DOMAIN posint2 AS posint;
CREATE DOMAIN amount AS numeric(10,2);
CREATE DOMAIN short AS varchar(5);
CREATE DOMAIN stamp AS timestamptz;
CREATE DOMAIN intarr AS integer[];
CREATE DOMAIN cash AS money;

CREATE TABLE types (
	id serial PRIMARY KEY,
	b boolean, i2 smallint, i4 integer, i8 bigint, o oid,
	f4 real, f8 double precision,
	n numeric(20,6), n1 numeric(1,0), nbig numeric(60,30), nu numeric, nneg numeric(3,-2), nover numeric(3,5),
	m money,
	t text, vc varchar(10), c char(4), qc "char", nm name,
	by bytea,
	d date,
	ts0 timestamp(0), ts1 timestamp(1), ts2 timestamp(2), ts3 timestamp(3), ts4 timestamp(4), ts5 timestamp(5), ts6 timestamp(6), ts timestamp,
	tz0 timestamptz(0), tz1 timestamptz(1), tz2 timestamptz(2), tz3 timestamptz(3), tz4 timestamptz(4), tz5 timestamptz(5), tz6 timestamptz(6), tz timestamptz,
	tm0 time(0), tm3 time(3), tm time, ttz timetz, ttz0 timetz(0),
	iv interval, ivd interval day to second(2), ivy interval year to month,
	j json, jb jsonb, x xml, u uuid,
	ip inet, cd cidr, mac macaddr, mac8 macaddr8,
	bt bit(3), vb varbit,
	r4 int4range, r8 int8range, nr numrange, tsr tsrange, tstzr tstzrange, dr daterange, mr int4multirange,
	pt point, ln line, ls lseg, bx box, pa path, pg polygon, ci circle,
	tsv tsvector, tsq tsquery, lsn pg_lsn,
	e mood, dp posint, dp2 posint2, da amount, ds short, dst stamp, dia intarr, dc cash,
	co comp,
	hs hstore, ct citext, lt ltree,
	ai int[], ai8 bigint[], a2 int[][], at text[], avc varchar(3)[], an numeric(10,2)[], anu numeric[], af4 real[], af8 float8[],
	ab bool[], aby bytea[], ad date[], ats timestamp(3)[], atz timestamptz[], atm time[], attz timetz[], aiv interval[],
	au uuid[], aj json[], ajb jsonb[], ax xml[], am money[], ainet inet[], ae mood[], ar int4range[], abox box[],
	aco comp[], adp posint[], ada amount[], ahs hstore[], act citext[], apt point[], abit bit(2)[],
	g bigint GENERATED ALWAYS AS (i4::bigint * 2) STORED
);

-- Row 1: minimums, negative and special values.
INSERT INTO types (b, i2, i4, i8, o, f4, f8, n, n1, nbig, nu, nneg, nover, m, t, vc, c, qc, nm, by, d,
	ts0, ts1, ts2, ts3, ts4, ts5, ts6, ts, tz0, tz1, tz2, tz3, tz4, tz5, tz6, tz, tm0, tm3, tm, ttz, ttz0, iv, ivd, ivy,
	j, jb, x, u, ip, cd, mac, mac8, bt, vb, r4, r8, nr, tsr, tstzr, dr, mr, pt, ln, ls, bx, pa, pg, ci, tsv, tsq, lsn,
	e, dp, dp2, da, ds, dst, dia, dc, co, hs, ct, lt,
	ai, ai8, a2, at, avc, an, anu, af4, af8, ab, aby, ad, ats, atz, atm, attz, aiv, au, aj, ajb, ax, am, ainet, ae, ar, abox,
	aco, adp, ada, ahs, act, apt, abit) VALUES (
	false, -32768, -2147483648, -9223372036854775808, 0, '-Infinity', 'NaN',
	'NaN', -9, '-123456789012345678901234567890.123456789012345678901234567890', 'NaN', -99900, 0.00999,
	'-92233720368547758.08',
	'multi-byte: 日本語 ✓ 🎉 and a quote '' and a backslash \', '日本語日本語日本語日', 'äö', 'x', 'pg_name',
	'\x00ff7f', '-infinity',
	'-infinity', '-infinity', '-infinity', '-infinity', '-infinity', '-infinity', '-infinity', '4713-01-01 00:00:00 BC',
	'-infinity', '-infinity', '-infinity', '-infinity', '-infinity', '-infinity', '-infinity', '4713-01-01 00:00:00+00 BC',
	'00:00:00', '00:00:00', '00:00:00', '00:00:00+15:59', '00:00:00-15:59',
	'-1 year +2 days -03:04:05', '-1 day -00:00:00.01', '-178000000 years',
	'{"a": [1, 2], "ü": "日本"}', '{"b": {"c": null}, "a": 1}', '<x a="1">y &amp; ü</x>', '00000000-0000-0000-0000-000000000000',
	'::1', '2001:db8::/32', '08:00:2b:01:02:03', '08:00:2b:01:02:03:04:05', B'000', B'',
	'empty', '(,5]', '(1.5,2.5]', '[2024-01-01,infinity)', '(-infinity,"2024-01-01 00:00:00+00"]', '[-infinity,2024-01-01)', '{}',
	'(1.5,-2)', '{1,2,3}', '[(0,0),(1,1)]', '(1,1),(0,0)', '[(0,0),(1,1)]', '((0,0),(1,1),(1,0))', '<(0,0),5>',
	'a fat cat', 'fat & cat', '0/0',
	'happy', 1, 1, 'NaN', '', '-infinity', '{}', '-1.00',
	ROW(1, 'x "y", z', ARRAY[1.5, NULL]), '"a"=>"1", "b"=>NULL', 'MiXeD Case', 'Top.Science.Astronomy',
	'{1,NULL,3}', '{-9223372036854775808}', '{{1,NULL},{3,4}}', ARRAY['a b', 'NULL', NULL, '', 'x\y"z', '{}', '日本', ' lead'], '{abc,ä}',
	'{1.50,NaN,NULL}', '{Infinity,-Infinity,NaN,1.500}', '{NaN,-Infinity}', '{NaN,-Infinity,1.5,5e-324}',
	'{t,f,NULL}', ARRAY['\x00ff'::bytea, NULL, '\x'], '{infinity,-infinity,"0044-03-15 BC",12345-01-01}',
	'{infinity,"2024-02-29 23:59:59.999"}', '{-infinity,"12345-06-07 08:09:10+02",NULL}', '{24:00:00,00:00:00.000001}', '{"00:00:00+15:59"}',
	ARRAY['P1D'::interval, '-1 year', NULL], '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}', ARRAY['{"a": 1}'::json, NULL], ARRAY['{"a": 1}'::jsonb],
	ARRAY['<a/>'::xml], '{"$1.00","-$2.50"}', '{10.0.0.1/8,NULL}', '{happy,NULL,ünïcode}', '{"[1,2)",empty}', '{(1,1),(0,0);(2,2),(1,1)}',
	ARRAY[ROW(1, 'a,b', NULL)::comp, NULL], '{1,2}', '{1.5,NULL}', ARRAY['"k"=>"v"'::hstore], '{A,b}', '{"(1,2)"}', '{01,10}'
);

-- Row 2: maximums and far-future values.
INSERT INTO types (b, i2, i4, i8, o, f4, f8, n, n1, nbig, nu, nneg, nover, m, t, vc, c, by, d,
	ts0, ts1, ts2, ts3, ts4, ts5, ts6, ts, tz0, tz1, tz2, tz3, tz4, tz5, tz6, tz, tm0, tm3, tm, ttz, iv, ivd, ivy,
	j, jb, x, u, ip, cd, bt, vb, r4, nr, tsr, dr, mr, e, dp, da, dst, dia, dc, hs, lt,
	ai, a2, at, an, anu, af8, ad, ats, atz, atm, aiv, am, ae) VALUES (
	true, 32767, 2147483647, 9223372036854775807, 4294967295, 'Infinity', '-Infinity',
	'99999999999999.999999', 9, '999999999999999999999999999999.999999999999999999999999999999', 'Infinity', 99900, 0.00001,
	'92233720368547758.07',
	'', 'ten chars!', 'abcd', '\x', 'infinity',
	'infinity', 'infinity', 'infinity', 'infinity', 'infinity', 'infinity', 'infinity', '294247-01-10 04:00:54.775806',
	'infinity', 'infinity', 'infinity', 'infinity', 'infinity', 'infinity', 'infinity', '294247-01-10 04:00:54.775806+00',
	'24:00:00', '24:00:00', '24:00:00', '24:00:00-15:59', '178000000 years', '1 day 02:03:04.567', '178000000 years',
	'"str"', '[]', 'text only', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '192.168.0.1/24', '10.0.0.0/8', B'111', B'10101010101',
	'[1,10)', '(,)', '[2024-01-01,2024-01-02]', '[2024-01-01,2024-01-31)', '{[1,3),[5,7)}',
	'ünïcode', 2147483647, '99999999.99', 'infinity', '{1,2,3}', '92233720368547758.07',
	'', '',
	'{}', '{{1,2},{3,4}}', '{{a,b},{c,NULL}}', '{}', '{}', '{}', '{}', '{}', '{"294270-01-01 00:00:00+00"}', '{}', '{}', '{}', '{}'
);

-- Row 3: ordinary values.
INSERT INTO types (b, i2, i4, i8, o, f4, f8, n, nu, nneg, m, t, vc, c, by, d,
	ts0, ts1, ts2, ts3, ts4, ts5, ts6, ts, tz0, tz1, tz2, tz3, tz4, tz5, tz6, tz, tm0, tm3, tm, ttz, ttz0, iv, ivd, ivy,
	j, jb, x, u, ip, mac, mac8, bt, vb, r4, r8, nr, tsr, tstzr, dr, e, dp, dp2, da, ds, dst, dia, dc, co, hs, ct, lt,
	ai, ai8, a2, at, an, anu, af4, af8, ab, ad, ats, atz, atm, aiv, am, ae, adp, ada) VALUES (
	true, 0, 0, 0, 1, '3.4028235e+38', '1.7976931348623157e+308',
	'0.000001', '0.000000000000000000000000000001', 0, '$1,234.56',
	E'tab\tnewline\nand\rcr', 'a', '', '\xdeadbeef', '0044-03-15 BC',
	'2024-02-29 23:59:59.5', '2024-02-29 23:59:59.95', '2024-02-29 23:59:59.995', '2024-02-29 23:59:59.9995',
	'2024-02-29 23:59:59.99995', '2024-02-29 23:59:59.999995', '2024-02-29 23:59:59.999999', '12345-06-07 08:09:10.123456',
	'1999-12-31 23:59:59.5+02', '1999-12-31 23:59:59.95+02', '1999-12-31 23:59:59.995+02', '1999-12-31 23:59:59.9995+02',
	'1999-12-31 23:59:59.99995+02', '1999-12-31 23:59:59.999995+02', '1900-01-01 00:00:00+05:53:28', '12345-06-07 08:09:10.123456+02',
	'12:34:56.5', '12:34:56.7895', '23:59:59.999999', '12:34:56.789+05:30', '12:34:56.6+01',
	'1 mon -1 day 0.000001 sec', '-01:02:03.456', '1 year -1 month',
	'null', 'null', '<?xml version="1.0"?><a>b</a>', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', '2001:db8::1/128', '08002b010203', '0800.2b01.0203.0405', B'101', B'1',
	'[1,1]', '[-9223372036854775808,9223372036854775807)', '[0,0]', '["2024-02-29 12:00:00.123456","2024-03-01")', '[-infinity,infinity]', 'empty',
	'sad', 42, 42, '-12345678.90', 'abcde', '2024-02-29 12:00:00.5+00', '{{1,2},{3,4}}', '0.01',
	ROW(NULL, NULL, NULL), '"ü"=>"日本", "with space"=>"a,b=>c"', 'ünïcode', 'a',
	'{42}', '{1,2}', '[0:1]={5,6}', '{"\"quoted\"","back\\slash","comma,semi;"}', '{0.01}', '{0.000000000000000000000000000001}',
	'{3.4028235e+38,-0}', '{-0,1e-300}', '{t}', '{2024-02-29}', '{"1999-12-31 23:59:59.5"}', '{"2024-02-29 12:00:00+00"}',
	'{12:00}', '{"1 mon -1 day"}', '{"$0.01"}', '{sad}', '{42}', '{NaN,-1.50}'
);

-- Row 4: NULL everywhere.
INSERT INTO types (id) VALUES (DEFAULT);
