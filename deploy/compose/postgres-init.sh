#!/usr/bin/env bash
# Run once by the postgres image on an empty data directory: one role and one database
# per service (each owns only its own), and a read-only role for Grafana on the analytics
# read models. The services and their passwords come from the container's environment
# (DONDOC_SERVICES, DONDOC_<SERVICE>_DB_PASSWORD), set by docker-compose.yml from .env.
set -euo pipefail

for service in ${DONDOC_SERVICES:?}; do
  var="DONDOC_${service^^}_DB_PASSWORD"
  password="${!var:?${var} is not set}"
  # the analytics read models: text in code-point order, compared by memcmp (the rebuild's
  # keys and indexes sort about twice as fast as under a linguistic collation)
  locale=""
  if [ "$service" = analytics ]; then locale="LC_COLLATE 'C' LC_CTYPE 'C.UTF-8'"; fi
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v role="dondoc_${service}" -v password="$password" -v locale="$locale" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'password';
CREATE DATABASE :"role" OWNER :"role" ENCODING 'UTF8' TEMPLATE template0 :locale;
REVOKE ALL ON DATABASE :"role" FROM PUBLIC;
SQL
done

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v password="${DONDOC_GRAFANA_DB_PASSWORD:?}" <<'SQL'
CREATE ROLE dondoc_grafana LOGIN PASSWORD :'password';
GRANT CONNECT ON DATABASE dondoc_analytics TO dondoc_grafana;
GRANT pg_read_all_data TO dondoc_grafana;
SQL
