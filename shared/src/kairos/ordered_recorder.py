"""An eventsourcing PostgreSQL recorder whose notification ids always follow commit order.

The outbox relay publishes the notification log in id order and remembers the last
id it published, so an id must never commit after a higher one. The library's
default insert path guarantees that with `LOCK TABLE … IN EXCLUSIVE MODE`, but then
holds the lock across a client round trip to COMMIT; its database-function path
(eventsourcing 9.5.6) needs no such round trip but skips the lock. This recorder's
insert function takes the lock inside the function: one statement in autocommit
mode, so the lock is held only while PostgreSQL inserts and commits.
"""

from __future__ import annotations

from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg.sql import SQL, Identifier


class OrderedInsertRecorder(PostgresApplicationRecorder):
    def __init__(
        self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"
    ) -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        # The result column of `SELECT * FROM f(...)` is named after the function. One
        # function per events table: applications sharing a database (the dev stack's
        # services) would otherwise replace each other's and insert into the last one's.
        self.pg_function_name_insert_events = (
            f"kairos_insert_{self.events_table_name}_{datastore.originator_id_type}"
        )
        function = Identifier(self.pg_function_name_insert_events)
        schema = Identifier(datastore.schema)
        table = Identifier(self.events_table_name)
        self.sql_create_pg_function_insert_events = SQL(
            "CREATE OR REPLACE FUNCTION {schema}.{function}(events {schema}.{event}[]) "
            "RETURNS SETOF bigint LANGUAGE plpgsql AS $BODY$ BEGIN"
            "    SET LOCAL lock_timeout = '{lock_timeout}s';"
            "    LOCK TABLE {schema}.{table} IN EXCLUSIVE MODE;"
            "    NOTIFY {channel};"
            "    RETURN QUERY"
            "    INSERT INTO {schema}.{table} AS t"
            "    (originator_id, originator_version, topic, state)"
            "    SELECT originator_id, originator_version, topic, state FROM unnest(events)"
            "    RETURNING notification_id;"
            "END; $BODY$"
        ).format(
            function=function,
            lock_timeout=datastore.lock_timeout,
            channel=Identifier(self.channel_name),
            event=Identifier(self.stored_event_type_name),
            schema=schema,
            table=table,
        )
        self.sql_create_statements[self.create_insert_function_statement_index] = (
            self.sql_create_pg_function_insert_events
        )
        self.sql_invoke_pg_function_insert_events = SQL(
            "SELECT * FROM {schema}.{function}((%s))"
        ).format(schema=schema, function=function)
