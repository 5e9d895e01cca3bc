import Store
import Testing

@Suite struct StatementTests {
    static let values: [SQLValue] = [
        .null,
        .integer(0), .integer(Int64.min), .integer(Int64.max),
        .real(0.5), .real(-1.25e300),
        .text(""), .text("job"), .text("Zürich · 東京 · 🚀"), .text("before\0after"),
        .blob([]), .blob([0]), .blob([0, 1, 127, 128, 255]),
    ]

    /// The value's storage class, as SQLite's typeof() names it.
    static func typeName(_ value: SQLValue) -> String {
        switch value {
        case .null: "null"
        case .integer: "integer"
        case .real: "real"
        case .text: "text"
        case .blob: "blob"
        }
    }

    @Test(arguments: values)
    func everyValueKindRoundTrips(value: SQLValue) throws {
        let database = try Database(path: ":memory:")
        // No declared type, so no affinity: each value keeps its storage class.
        try database.execute("CREATE TABLE v(x)")
        try database.prepare("INSERT INTO v(x) VALUES (?1)").run(value)
        let select = try database.prepare("SELECT x, typeof(x) FROM v")
        #expect(try select.step())
        #expect(select.value(0) == value)
        #expect(select.text(1) == Self.typeName(value))
        #expect(select.isNull(0) == (value == .null))
        switch value {
        case .null: #expect(select.text(0) == "" && select.blob(0) == [] && select.int64(0) == 0)
        case .integer(let integer): #expect(select.int64(0) == integer && select.int(0) == Int(integer))
        case .real(let real): #expect(select.double(0) == real)
        case .text(let text): #expect(select.text(0) == text)
        case .blob(let bytes): #expect(select.blob(0) == bytes)
        }
        #expect(try !select.step())
    }

    @Test func emptyBlobAndEmptyTextAreNotNull() throws {
        let database = try Database(path: ":memory:")
        try database.execute("CREATE TABLE v(id INTEGER PRIMARY KEY, x)")
        let insert = try database.prepare("INSERT INTO v(id, x) VALUES (?1, ?2)")
        insert.bind(1, 1)
        insert.bind(2, [UInt8]())
        try insert.run()
        insert.bind(1, 2)
        insert.bind(2, "")
        try insert.run()
        insert.bind(1, 3)
        insert.bind(2, [UInt8]?.none)
        try insert.run()
        let rows = try database.prepare("SELECT typeof(x), length(x), x IS NULL FROM v ORDER BY id").rows {
            "\($0.text(0)) \($0.int(1)) \($0.bool(2))"
        }
        #expect(rows == ["blob 0 false", "text 0 false", "null 0 true"])
    }

    @Test func typedBindingsStoreTheirValues() throws {
        let database = try Database(path: ":memory:")
        try database.execute("CREATE TABLE v(a, b, c, d, e, f, g, h, i)")
        let insert = try database.prepare("INSERT INTO v VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)")
        insert.bind(1, Int64.min)
        insert.bind(2, Int.max)
        insert.bind(3, 2.5)
        insert.bind(4, true)
        insert.bind(5, false)
        insert.bind(6, "naïve")
        insert.bind(7, [0xCA, 0xFE] as [UInt8])
        insert.bind(8, Int64?.none)
        insert.bind(9, String?.some("set"))
        try insert.run()
        let select = try database.prepare("SELECT * FROM v")
        #expect(try select.step())
        #expect(select.columnCount == 9)
        let row = (0..<select.columnCount).map { select.value($0) }
        #expect(row == [
            .integer(.min), .integer(.max), .real(2.5), .integer(1), .integer(0), .text("naïve"), .blob([0xCA, 0xFE]),
            .null, .text("set"),
        ])
        #expect(select.bool(3) && !select.bool(4))
    }

    @Test func optionalBindingsOfNilStoreNull() throws {
        let database = try Database(path: ":memory:")
        let select = try database.prepare("SELECT ?1 IS NULL")
        let binders: [(Statement) -> Void] = [
            { $0.bind(1, Int64?.none) }, { $0.bind(1, Int?.none) }, { $0.bind(1, Double?.none) },
            { $0.bind(1, Bool?.none) }, { $0.bind(1, String?.none) }, { $0.bind(1, [UInt8]?.none) },
            { $0.bind(1, SQLValue.null) },
        ]
        for bindNil in binders {
            select.bind(1, 7)
            bindNil(select)
            #expect(try select.rows { $0.bool(0) } == [true])
        }
    }

    @Test func sameSQLTextGivesTheSameCachedStatement() throws {
        let database = try Database(path: ":memory:")
        let first = try database.prepare("SELECT 1")
        #expect(try database.prepare("SELECT 1") === first)
        #expect(try database.prepare("SELECT 2") !== first)
    }

    @Test func cachedStatementComesBackResetWithBindingsCleared() throws {
        let database = try Database(path: ":memory:")
        try database.execute("CREATE TABLE t(x INTEGER); INSERT INTO t VALUES (1), (2), (3)")
        let select = try database.prepare("SELECT x, ?1 FROM t ORDER BY x")
        select.bind(1, "bound")
        #expect(try select.step() && select.int(0) == 1 && select.text(1) == "bound")
        #expect(try select.step() && select.int(0) == 2)

        let again = try database.prepare("SELECT x, ?1 FROM t ORDER BY x")
        #expect(again === select)
        #expect(try again.step())
        #expect(again.int(0) == 1)
        #expect(again.isNull(1))
    }

    @Test func runBindsStepsAndResets() throws {
        let database = try Database(path: ":memory:")
        try database.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, weight REAL)")
        let insert = try database.prepare("INSERT INTO t(name, weight) VALUES (?1, ?2)")
        try insert.run(.text("a"), .real(1.5))
        try insert.run(.text("b"), .null)
        let select = try database.prepare("SELECT name, weight FROM t WHERE id >= ?1 ORDER BY id")
        let rows = try select.rows(.integer(1)) { statement in
            (statement.text(0), statement.isNull(1) ? nil : statement.double(1))
        }
        #expect(rows.map(\.0) == ["a", "b"])
        #expect(rows.map(\.1) == [1.5, nil])
        // rows(_:map:) reset the statement, so its bindings are cleared: id >= NULL matches nothing.
        #expect(try select.rows { $0.text(0) } == [])
    }

    @Test func constraintViolationCarriesCodeMessageAndSQL() throws {
        let database = try Database(path: ":memory:")
        try database.execute("CREATE TABLE t(name TEXT UNIQUE)")
        let sql = "INSERT INTO t(name) VALUES (?1)"
        try database.prepare(sql).run(.text("once"))
        let error = try #require(throws: SQLiteError.self) { try database.prepare(sql).run(.text("once")) }
        #expect(error.isConstraint)
        #expect(!error.isFull && !error.isBusy && !error.isReadOnly)
        #expect(error.code == 19)
        #expect(error.extendedCode == 2067)  // SQLITE_CONSTRAINT_UNIQUE
        #expect(error.message == "UNIQUE constraint failed: t.name")
        #expect(error.sql == sql)
        #expect(error.description == #"SQLite error 19 (UNIQUE constraint failed: t.name) in "\#(sql)""#)
        // The failed statement was reset and can run again.
        try database.prepare(sql).run(.text("twice"))
        #expect(try database.count("t") == 2)
    }

    @Test func syntaxErrorIsThrownWhenPreparing() throws {
        let database = try Database(path: ":memory:")
        let error = try #require(throws: SQLiteError.self) { try database.prepare("SELEKT 1") }
        #expect(error.code == 1)
        #expect(error.message.contains("syntax error"))
        #expect(error.sql == "SELEKT 1")
    }

    @Test func prepareRefusesSeveralStatementsButAllowsATrailingComment() throws {
        let database = try Database(path: ":memory:")
        let error = try #require(throws: SQLiteError.self) { try database.prepare("SELECT 1; SELECT 2") }
        #expect(error.code == 21)  // SQLITE_MISUSE
        #expect(error.sql == "SELECT 1; SELECT 2")
        #expect(throws: SQLiteError.self) { try database.prepare("SELECT 1; garbage") }
        #expect(try database.prepare("SELECT 1; -- the answer\n").rows { $0.int(0) } == [1])
    }

    @Test func executeRunsEveryStatementAndNamesTheOneThatFailed() throws {
        let database = try Database(path: ":memory:")
        try database.execute("""
            CREATE TABLE a(x);
            -- a comment between statements
            INSERT INTO a VALUES (1);
            INSERT INTO a SELECT x + 1 FROM a;
            """)
        #expect(try database.count("a") == 2)

        let error = try #require(throws: SQLiteError.self) {
            try database.execute("INSERT INTO a VALUES (3); INSERT INTO missing VALUES (4); INSERT INTO a VALUES (5)")
        }
        #expect(error.message == "no such table: missing")
        #expect(error.sql?.hasPrefix("INSERT INTO missing VALUES (4);") == true)
        // Outside a transaction each statement commits on its own.
        #expect(try database.count("a") == 3)
    }
}
