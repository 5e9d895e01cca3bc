/*
 * What a job's rows cost a shard's store, in SQLite alone: the shard's schema and statements, without
 * Baton's code, its messages or its other processes (docs/benchmarks.md, "What a job's rows cost").
 *
 *     cc -O2 -o /tmp/shard-rows tools/sqlite-rows/shard-rows.c -lsqlite3
 *     /tmp/shard-rows [JOBS-A-TURN [TURNS [full|normal]]]      (default 100 600 full)
 *
 * Each turn is one transaction, as a shard's turn is: it inserts JOBS-A-TURN new jobs, leases the jobs the
 * turn before inserted, ends the jobs leased the turn before that, and appends one event-log message. It
 * prints, for five layouts of the rows, the wall-clock and CPU microseconds a job, three rounds each:
 *
 *   now       a job with a task row of its own, as a job of partitions has: the job's row inserted at its
 *             SUBMIT and updated at its end, its task's row inserted at its lease and updated at its end
 *             (four writes, nine B-tree changes);
 *   implicit  a one-task job as the shard writes it today, with no task row: its lease written in the
 *             job's row, in columns no index reads (three writes, seven B-tree changes);
 *   no-unique implicit, without the index UNIQUE (run, job, generation) makes, which the shard's lookups
 *             of a job by run and name read today (three writes, six B-tree changes);
 *   lease-log implicit, but the lease appended to a narrow table of its own and deleted at the job's end,
 *             rather than written over in the wide job row (four writes, eight B-tree changes);
 *   one-row   the job's one row written at its lease and updated at its end, its queued state kept by
 *             the orchestrator, which sends it again after a restart (two writes, six B-tree changes).
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *schema =
    "CREATE TABLE jobs (id INTEGER PRIMARY KEY, run INTEGER NOT NULL, job TEXT NOT NULL, generation INTEGER NOT NULL,"
    " spec BLOB NOT NULL, state INTEGER NOT NULL, step INTEGER NOT NULL, completed INTEGER NOT NULL,"
    " attempts INTEGER NOT NULL, started INTEGER NOT NULL, finished INTEGER NOT NULL, output TEXT NOT NULL,"
    " detail TEXT NOT NULL, cancelled INTEGER NOT NULL, queued INTEGER NOT NULL DEFAULT 0,"
    " finishing INTEGER NOT NULL DEFAULT 0%s);"
    "CREATE TABLE tasks (id INTEGER PRIMARY KEY, job_id INTEGER NOT NULL, step INTEGER NOT NULL,"
    " partition INTEGER NOT NULL, state INTEGER NOT NULL, attempt INTEGER NOT NULL, failures INTEGER NOT NULL,"
    " losses INTEGER NOT NULL, due INTEGER NOT NULL, ord INTEGER NOT NULL, lease_worker TEXT, lease_session INTEGER,"
    " started INTEGER NOT NULL, finished INTEGER NOT NULL, exit_code INTEGER NOT NULL, output TEXT NOT NULL,"
    " log TEXT NOT NULL, error TEXT NOT NULL, data BLOB NOT NULL, successes INTEGER NOT NULL, lease_key TEXT,"
    " worker TEXT NOT NULL DEFAULT '', lease_heartbeat INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX tasks_by_job ON tasks (job_id, step, partition);"
    "CREATE TABLE events (sequence INTEGER PRIMARY KEY, epoch INTEGER NOT NULL, time INTEGER NOT NULL, frame BLOB NOT NULL);"
    "CREATE INDEX jobs_open ON jobs (state) WHERE state BETWEEN 3 AND 5;"
    "CREATE INDEX jobs_finished ON jobs (finished) WHERE state >= 6;"
    "CREATE INDEX jobs_finishing ON jobs (id) WHERE finishing = 1 AND state BETWEEN 3 AND 5;"
    "CREATE TABLE leases (job_id INTEGER PRIMARY KEY, worker TEXT NOT NULL, session INTEGER NOT NULL,"
    " started INTEGER NOT NULL);";

enum layout { NOW, IMPLICIT, NO_UNIQUE, LEASE_LOG, ONE_ROW };
static const char *names[] = {"now", "implicit", "no-unique", "lease-log", "one-row"};

static double seconds(clockid_t clock) {
    struct timespec t;
    clock_gettime(clock, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static void fail(sqlite3 *db, const char *what) {
    fprintf(stderr, "shard-rows: %s: %s\n", what, sqlite3_errmsg(db));
    exit(1);
}

static void execute(sqlite3 *db, const char *sql) {
    if (sqlite3_exec(db, sql, 0, 0, 0) != SQLITE_OK) fail(db, sql);
}

static sqlite3_stmt *prepare(sqlite3 *db, const char *sql) {
    sqlite3_stmt *statement;
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &statement, 0) != SQLITE_OK) fail(db, sql);
    return statement;
}

static void run(sqlite3_stmt *statement) {
    if (sqlite3_step(statement) != SQLITE_DONE) fail(sqlite3_db_handle(statement), sqlite3_sql(statement));
    sqlite3_reset(statement);
}

static void text(sqlite3_stmt *s, int column, const char *value) { sqlite3_bind_text(s, column, value, -1, SQLITE_STATIC); }
static void number(sqlite3_stmt *s, int column, long value) { sqlite3_bind_int64(s, column, value); }

/* A job's row as a SUBMIT (state 3, queued) or a lease (state 4, running) writes it. */
static void insert_job(sqlite3_stmt *s, long id, int state, int per_turn) {
    static const char spec[160];
    char name[32];
    snprintf(name, sizeof name, "job-%07ld", id);
    number(s, 1, id);
    number(s, 2, 1 + id / (per_turn * 50L));
    sqlite3_bind_text(s, 3, name, -1, SQLITE_TRANSIENT);
    number(s, 4, 0);
    sqlite3_bind_blob(s, 5, spec, sizeof spec, SQLITE_STATIC);
    number(s, 6, state);
    for (int column = 7; column <= 11; column++) number(s, column, 0);
    text(s, 12, "");
    text(s, 13, "");
    number(s, 14, 0);
    number(s, 15, 1);
    number(s, 16, 0);
    run(s);
}

/* Returns the wall-clock and CPU microseconds a job. */
static void measure(enum layout layout, int per_turn, int turns, const char *synchronous, double *wall, double *cpu) {
    char path[] = "/tmp/shard-rows-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) { perror("mkstemp"); exit(1); }
    close(fd);
    sqlite3 *db;
    if (sqlite3_open(path, &db) != SQLITE_OK) fail(db, path);
    char pragma[64];
    snprintf(pragma, sizeof pragma, "PRAGMA synchronous = %s", synchronous);
    execute(db, "PRAGMA journal_mode = WAL");
    execute(db, pragma);
    execute(db, "PRAGMA cache_size = -65536");
    static char tables[4096];
    snprintf(tables, sizeof tables, schema, layout == NO_UNIQUE ? "" : ", UNIQUE (run, job, generation)");
    execute(db, tables);
    sqlite3_stmt *insert_job_row = prepare(db,
        "INSERT INTO jobs (id, run, job, generation, spec, state, step, completed, attempts, started, finished, output,"
        " detail, cancelled, queued, finishing) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    sqlite3_stmt *end_job = prepare(db,
        "UPDATE jobs SET state = ?, step = ?, completed = ?, attempts = ?, started = ?, finished = ?, output = ?,"
        " detail = ?, cancelled = ?, queued = ?, finishing = ? WHERE id = ?");
    sqlite3_stmt *lease_in_job = prepare(db, "UPDATE jobs SET attempts = ?, started = ?, output = ? WHERE id = ?");
    sqlite3_stmt *insert_task = prepare(db,
        "INSERT INTO tasks (id, job_id, step, partition, ord, state, attempt, failures, losses, due, lease_worker,"
        " lease_session, started, finished, exit_code, output, log, error, data, successes, lease_key, worker,"
        " lease_heartbeat) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    sqlite3_stmt *end_task = prepare(db,
        "UPDATE tasks SET state = ?, attempt = ?, failures = ?, losses = ?, due = ?, lease_worker = ?,"
        " lease_session = ?, started = ?, finished = ?, exit_code = ?, output = ?, log = ?, error = ?, data = ?,"
        " successes = successes + ?, lease_key = ?, worker = ?, lease_heartbeat = ? WHERE id = ?");
    sqlite3_stmt *insert_lease = prepare(db, "INSERT INTO leases (job_id, worker, session, started) VALUES (?, ?, ?, ?)");
    sqlite3_stmt *delete_lease = prepare(db, "DELETE FROM leases WHERE job_id = ?");
    sqlite3_stmt *event = prepare(db, "INSERT INTO events (sequence, epoch, time, frame) VALUES (?, ?, ?, ?)");
    sqlite3_stmt *begin = prepare(db, "BEGIN IMMEDIATE"), *commit = prepare(db, "COMMIT");
    static char frame[60 * 10000];

    double began = seconds(CLOCK_MONOTONIC), began_cpu = seconds(CLOCK_PROCESS_CPUTIME_ID);
    for (long turn = 0; turn < turns + 2; turn++) {
        run(begin);
        long submitted = turn * per_turn, leased = submitted - per_turn, ended = leased - per_turn;
        if (turn < turns && layout != ONE_ROW)
            for (long id = submitted + 1; id <= submitted + per_turn; id++) insert_job(insert_job_row, id, 3, per_turn);
        if (turn >= 1 && turn <= turns)
            for (long id = leased + 1; id <= leased + per_turn; id++) {
                if (layout == ONE_ROW) {
                    insert_job(insert_job_row, id, 4, per_turn);
                } else if (layout == LEASE_LOG) {
                    number(insert_lease, 1, id);
                    text(insert_lease, 2, "vm/bench/1");
                    number(insert_lease, 3, 5);
                    number(insert_lease, 4, turn);
                    run(insert_lease);
                } else if (layout == IMPLICIT || layout == NO_UNIQUE) {
                    number(lease_in_job, 1, 1);
                    number(lease_in_job, 2, turn);
                    text(lease_in_job, 3, "vm/bench/1");
                    number(lease_in_job, 4, id);
                    run(lease_in_job);
                } else {
                    number(insert_task, 1, id);
                    number(insert_task, 2, id);
                    number(insert_task, 3, 0);
                    number(insert_task, 4, 0);
                    number(insert_task, 5, id);
                    number(insert_task, 6, 3);
                    for (int column = 7; column <= 10; column++) number(insert_task, column, 1);
                    text(insert_task, 11, "vm/bench/1");
                    number(insert_task, 12, 5);
                    number(insert_task, 13, turn);
                    number(insert_task, 14, 0);
                    number(insert_task, 15, 0);
                    for (int column = 16; column <= 18; column++) text(insert_task, column, "");
                    sqlite3_bind_zeroblob(insert_task, 19, 0);
                    number(insert_task, 20, 0);
                    text(insert_task, 21, "lease-key");
                    text(insert_task, 22, "vm/bench/1");
                    number(insert_task, 23, 0);
                    run(insert_task);
                }
            }
        if (turn >= 2)
            for (long id = ended + 1; id <= ended + per_turn; id++) {
                if (layout == NOW) {
                    number(end_task, 1, 4);
                    for (int column = 2; column <= 5; column++) number(end_task, column, 1);
                    sqlite3_bind_null(end_task, 6);
                    sqlite3_bind_null(end_task, 7);
                    for (int column = 8; column <= 10; column++) number(end_task, column, turn);
                    for (int column = 11; column <= 13; column++) text(end_task, column, "");
                    sqlite3_bind_zeroblob(end_task, 14, 0);
                    number(end_task, 15, 1);
                    sqlite3_bind_null(end_task, 16);
                    text(end_task, 17, "vm/bench/1");
                    number(end_task, 18, 0);
                    number(end_task, 19, id);
                    run(end_task);
                } else if (layout == LEASE_LOG) {
                    number(delete_lease, 1, id);
                    run(delete_lease);
                }
                number(end_job, 1, 6);
                for (int column = 2; column <= 6; column++) number(end_job, column, turn);
                text(end_job, 7, "");
                text(end_job, 8, "");
                for (int column = 9; column <= 11; column++) number(end_job, column, 0);
                number(end_job, 12, id);
                run(end_job);
            }
        number(event, 1, turn + 1);
        number(event, 2, 1);
        number(event, 3, turn);
        sqlite3_bind_blob(event, 4, frame, 60 * (per_turn < 10000 ? per_turn : 10000), SQLITE_STATIC);
        run(event);
        run(commit);
    }
    double jobs = (double)turns * per_turn;
    *wall = (seconds(CLOCK_MONOTONIC) - began) / jobs * 1e6;
    *cpu = (seconds(CLOCK_PROCESS_CPUTIME_ID) - began_cpu) / jobs * 1e6;
    sqlite3_stmt *all[] = {insert_job_row, end_job, lease_in_job, insert_task, end_task, insert_lease, delete_lease, event,
        begin, commit};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) sqlite3_finalize(all[i]);
    sqlite3_close(db);
    char other[sizeof path + 8];
    unlink(path);
    snprintf(other, sizeof other, "%s-wal", path);
    unlink(other);
    snprintf(other, sizeof other, "%s-shm", path);
    unlink(other);
}

int main(int argc, char **argv) {
    int per_turn = argc > 1 ? atoi(argv[1]) : 100;
    int turns = argc > 2 ? atoi(argv[2]) : 600;
    const char *synchronous = argc > 3 ? argv[3] : "full";
    if (per_turn < 1 || turns < 1 || (strcmp(synchronous, "full") && strcmp(synchronous, "normal"))) {
        fprintf(stderr, "usage: shard-rows [JOBS-A-TURN [TURNS [full|normal]]]\n");
        return 2;
    }
    printf("%d jobs a turn, %d turns, synchronous %s: microseconds a job, wall-clock / CPU\n", per_turn, turns, synchronous);
    for (int round = 1; round <= 3; round++) {
        printf("round %d:", round);
        for (int layout = NOW; layout <= ONE_ROW; layout++) {
            double wall, cpu;
            measure(layout, per_turn, turns, synchronous, &wall, &cpu);
            printf("  %s %.1f / %.1f", names[layout], wall, cpu);
        }
        printf("\n");
        fflush(stdout);
    }
    return 0;
}
