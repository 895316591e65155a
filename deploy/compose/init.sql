-- Runs once when the compose Postgres starts empty (as the postgres
-- superuser, in database app): the source tables with sample rows, the
-- least-privilege role syncline connects as (see the README's
-- "Least-privilege Postgres setup"), and the warehouse database.
CREATE TABLE customers (id bigint PRIMARY KEY, email text NOT NULL, name text, balance numeric(12,2), updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint NOT NULL REFERENCES customers, total numeric(12,2) NOT NULL, status text NOT NULL);
CREATE TABLE syncline_signals (id text PRIMARY KEY, type text NOT NULL, data jsonb, created_at timestamptz NOT NULL DEFAULT now());
INSERT INTO customers (id, email, name, balance) SELECT g, 'user' || g || '@example.com', 'Customer ' || g, g FROM generate_series(1, 100) g;

CREATE ROLE syncline WITH LOGIN REPLICATION PASSWORD 'syncline';
GRANT USAGE ON SCHEMA public TO syncline;
GRANT SELECT ON customers, orders, syncline_signals TO syncline;
-- The publication is created by the tables' owner; syncline finds it.
CREATE PUBLICATION syncline_app FOR TABLE customers, orders, syncline_signals
  WITH (publish_via_partition_root = true);

-- The warehouse: the sink creates its schema and tables there.
CREATE DATABASE warehouse OWNER syncline;
