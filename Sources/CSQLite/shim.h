#ifndef BATON_CSQLITE_SHIM_H
#define BATON_CSQLITE_SHIM_H
#include <sqlite3.h>

// SQLITE_TRANSIENT is a macro over a function-pointer cast that Swift cannot import.
static const sqlite3_destructor_type baton_sqlite_transient = SQLITE_TRANSIENT;

// An empty text or blob, bound with SQLITE_STATIC: bound as SQLITE_TRANSIENT, even an empty value is
// copied into an allocation, and a zero-length zeroblob is expanded into one when the row is built.
static inline const char *baton_sqlite_empty(void) {
    static const char empty[1] = {0};
    return empty;
}

// sqlite3_config is variadic, which Swift cannot call. Turning memory statistics off spares every
// allocation SQLite makes a global mutex; it must run before SQLite initializes, and is refused
// (SQLITE_MISUSE, harmlessly) after.
static inline int baton_sqlite_disable_memory_statistics(void) {
    return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}
#endif
