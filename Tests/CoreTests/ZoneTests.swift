import Core
import Testing

/// Zones from real tzdata and hand-built TZif files: offsets, gaps, overlaps, footer rules and refusals.
struct ZoneTests {
    /// Every change of offset in [from, through), found by comparing each `step` seconds and refining.
    static func changes(_ zone: Zone, from: Int64, through: Int64, step: Int64 = 900) -> [(at: Int64, offset: Int)] {
        var found: [(at: Int64, offset: Int)] = []
        var previous = zone.offset(at: from)
        var instant = from
        while instant < through {
            let offset = zone.offset(at: instant)
            if offset != previous {
                var at = instant - step
                while zone.offset(at: at) == previous { at += 1 }
                found.append((at, offset))
                previous = offset
            }
            instant += step
        }
        return found
    }

    @Test func utcIsZeroAtEveryInstant() {
        for instant: Int64 in [-4_000_000_000, 0, 1_790_000_000, 5_000_000_000] {
            #expect(Zone.utc.offset(at: instant) == 0)
            #expect(Zone.utc.instants(local: instant) == [instant])
            #expect(Zone.utc.gapEnd(local: instant) == nil)
        }
        #expect(Zone.utc.name == "UTC")
        let file = try? TZdata.zone("UTC")
        #expect(file?.offset(at: 1_790_000_000) == 0)
    }

    @Test func newYorkChangesAtTwoInTheMorningLocal() throws {
        let zone = try TZdata.zone("America/New_York")
        #expect(zone.name == "America/New_York")
        #expect(zone.offset(at: seconds("2026-03-08", 6, 59, 59)) == -18_000)
        #expect(zone.offset(at: seconds("2026-03-08", 7, 0)) == -14_400)
        #expect(zone.offset(at: seconds("2026-11-01", 5, 59, 59)) == -14_400)
        #expect(zone.offset(at: seconds("2026-11-01", 6, 0)) == -18_000)
        // Before the first transition (1883): local mean time, type 0.
        #expect(zone.offset(at: seconds("1850-06-01", 0, 0)) == -17_762)
    }

    @Test func springGapHasNoInstantsAndEndsAtTheTransition() throws {
        let newYork = try TZdata.zone("America/New_York")
        #expect(newYork.instants(local: seconds("2026-03-08", 2, 30)) == [])
        #expect(newYork.gapEnd(local: seconds("2026-03-08", 2, 30)) == seconds("2026-03-08", 7, 0))
        #expect(newYork.gapEnd(local: seconds("2026-03-08", 2, 0)) == seconds("2026-03-08", 7, 0))
        #expect(newYork.earliestInstant(local: seconds("2026-03-08", 2, 59, 59)) == seconds("2026-03-08", 7, 0))
        #expect(newYork.instants(local: seconds("2026-03-08", 3, 0)) == [seconds("2026-03-08", 7, 0)])
        #expect(newYork.instants(local: seconds("2026-03-08", 1, 59, 59)) == [seconds("2026-03-08", 6, 59, 59)])
        #expect(newYork.gapEnd(local: seconds("2026-03-08", 3, 0)) == nil)

        let sydney = try TZdata.zone("Australia/Sydney")
        #expect(sydney.instants(local: seconds("2026-10-04", 2, 30)) == [])
        #expect(sydney.gapEnd(local: seconds("2026-10-04", 2, 30)) == seconds("2026-10-03", 16, 0))
    }

    @Test func autumnOverlapHasTwoInstantsEarliestFirst() throws {
        let newYork = try TZdata.zone("America/New_York")
        let twice = [seconds("2026-11-01", 5, 30), seconds("2026-11-01", 6, 30)]
        #expect(newYork.instants(local: seconds("2026-11-01", 1, 30)) == twice)
        #expect(newYork.earliestInstant(local: seconds("2026-11-01", 1, 30)) == twice[0])
        #expect(newYork.gapEnd(local: seconds("2026-11-01", 1, 30)) == nil)
        #expect(newYork.instants(local: seconds("2026-11-01", 2, 0)) == [seconds("2026-11-01", 7, 0)])

        let sydney = try TZdata.zone("Australia/Sydney")
        #expect(
            sydney.instants(local: seconds("2026-04-05", 2, 30)) == [
                seconds("2026-04-04", 15, 30), seconds("2026-04-04", 16, 30),
            ])
        #expect(sydney.offset(at: seconds("2026-04-04", 15, 59, 59)) == 39_600)
        #expect(sydney.offset(at: seconds("2026-04-04", 16, 0)) == 36_000)
    }

    @Test func shanghaiIsEightHoursAheadWithoutDaylightTime() throws {
        let zone = try TZdata.zone("Asia/Shanghai")
        for instant in stride(from: seconds("1992-01-01", 0, 0), to: seconds("2100-01-01", 0, 0), by: 86_400 * 17) {
            #expect(zone.offset(at: instant) == 28_800)
        }
        #expect(zone.instants(local: seconds("2026-11-22", 18, 30)) == [seconds("2026-11-22", 10, 30)])
    }

    /// The footer's rule takes over after the last transition in the file (2037 in a "fat" file).
    @Test func zonesBeyondTheirLastTransitionFollowTheFooterRule() throws {
        // (zone, changes in 2080 as (UTC instant, new offset)), from Python's zoneinfo.
        let expected: [(String, [(Int64, Int)])] = [
            ("America/New_York", [(3_477_279_600, -14_400), (3_497_839_200, -18_000)]),
            ("Australia/Sydney", [(3_479_644_800, 36_000), (3_495_369_600, 39_600)]),
            ("Europe/London", [(3_479_072_400, 3600), (3_497_216_400, 0)]),
            ("Asia/Jerusalem", [(3_478_896_000, 10_800), (3_497_209_200, 7200)]),  // M3.4.4/26: over 24 hours
            ("America/Nuuk", [(3_479_072_400, -3600), (3_497_216_400, -7200)]),  // M3.5.0/-1: negative
            ("Europe/Dublin", [(3_479_072_400, 3600), (3_497_216_400, 0)]),  // negative daylight saving
            ("Australia/Lord_Howe", [(3_479_641_200, 37_800), (3_495_367_800, 39_600)]),  // half an hour
        ]
        for (name, changes) in expected {
            let zone = try TZdata.zone(name)
            let found = Self.changes(zone, from: seconds("2080-01-01", 0, 0), through: seconds("2081-01-01", 0, 0))
            #expect(found.map(\.at) == changes.map(\.0), "\(name)")
            #expect(found.map(\.offset) == changes.map(\.1), "\(name)")
        }
        let newYork = try TZdata.zone("America/New_York")
        #expect(newYork.gapEnd(local: seconds("2080-03-10", 2, 30)) == seconds("2080-03-10", 7, 0))
        #expect(
            newYork.instants(local: seconds("2080-11-03", 1, 30)) == [
                seconds("2080-11-03", 5, 30), seconds("2080-11-03", 6, 30),
            ])
    }

    /// zic wrote the file's table from the same rules as its footer: the footer alone must give the same changes.
    @Test func footerRuleAgreesWithTheTableItSucceeds() throws {
        for name in [
            "America/New_York", "Australia/Sydney", "Europe/London", "Asia/Jerusalem", "America/Nuuk",
            "Europe/Dublin", "Australia/Lord_Howe", "America/St_Johns", "Pacific/Auckland", "America/Santiago",
        ] {
            let bytes = try TZdata.bytes(name)
            let table = try Zone.parse(tzif: bytes, name: name)
            let rule = try Zone.parse(posixRule: TZdata.footer(bytes), name: name)
            let from = seconds("2027-01-01", 0, 0)
            let through = seconds("2037-01-01", 0, 0)
            let tableChanges = Self.changes(table, from: from, through: through)
            let ruleChanges = Self.changes(rule, from: from, through: through)
            #expect(tableChanges.count >= 20, "\(name)")
            #expect(tableChanges.map(\.at) == ruleChanges.map(\.at), "\(name)")
            #expect(tableChanges.map(\.offset) == ruleChanges.map(\.offset), "\(name)")
        }
    }

    @Test func posixRulesInEveryForm() throws {
        let day2028 = seconds("2028-01-01", 0, 0)
        // Fixed offsets, quoted names, minutes.
        #expect(try Zone.parse(posixRule: "<+08>-8", name: "x").offset(at: day2028) == 28_800)
        #expect(try Zone.parse(posixRule: "<+0545>-5:45", name: "x").offset(at: day2028) == 20_700)
        #expect(try Zone.parse(posixRule: "<-0330>+3:30:15", name: "x").offset(at: day2028) == -12_615)
        #expect(try Zone.parse(posixRule: "UTC0", name: "x").offset(at: day2028) == 0)
        // Without dates, daylight time follows the US rules and is an hour ahead.
        let us = try Zone.parse(posixRule: "EST5EDT", name: "x")
        #expect(us.offset(at: seconds("2028-03-12", 6, 59, 59)) == -18_000)
        #expect(us.offset(at: seconds("2028-03-12", 7, 0)) == -14_400)
        #expect(us.offset(at: seconds("2028-11-05", 6, 0)) == -18_000)
        // Jn never counts 29 February; n does (2028 is a leap year).
        let julian = try Zone.parse(posixRule: "AAA0BBB,J60/0,J300/0", name: "x")
        let ordinal = try Zone.parse(posixRule: "AAA0BBB,59/0,300/0", name: "x")
        #expect(julian.offset(at: seconds("2028-02-29", 12, 0)) == 0)
        #expect(julian.offset(at: seconds("2028-03-01", 0, 0)) == 3600)
        #expect(ordinal.offset(at: seconds("2028-02-29", 0, 0)) == 3600)
        #expect(ordinal.offset(at: seconds("2028-02-28", 23, 59, 59)) == 0)
        #expect(ordinal.offset(at: seconds("2027-03-01", 0, 0)) == 3600)  // day 59 of a common year
        // Transition times with minutes and seconds, negative, and past 24 hours.
        let odd = try Zone.parse(posixRule: "AAA-1BBB-2,M3.5.0/-1:30,M10.5.0/27:00:30", name: "x")
        #expect(odd.offset(at: seconds("2028-03-25", 21, 29, 59)) == 3600)  // Sunday 26 March, -1:30 local
        #expect(odd.offset(at: seconds("2028-03-25", 21, 30)) == 7200)
        // Sunday 29 October + 27h00m30s of daylight time (UTC+2).
        #expect(odd.offset(at: seconds("2028-10-30", 1, 0, 29)) == 7200)
        #expect(odd.offset(at: seconds("2028-10-30", 1, 0, 30)) == 3600)
        // Daylight time all year: the end of one year meets the start of the next.
        let always = try Zone.parse(posixRule: "EST5EDT,0/0,J365/25", name: "x")
        for day in stride(from: seconds("2027-12-30", 0, 0), to: seconds("2029-01-03", 0, 0), by: 3600) {
            #expect(always.offset(at: day) == -14_400)
        }
        // Southern hemisphere: daylight time spans the new year.
        let south = try Zone.parse(posixRule: "AEST-10AEDT,M10.1.0,M4.1.0/3", name: "x")
        #expect(south.offset(at: seconds("2028-01-15", 0, 0)) == 39_600)
        #expect(south.offset(at: seconds("2028-07-15", 0, 0)) == 36_000)
    }

    @Test func badPosixRulesAreRefused() {
        for bad in [
            "", "8", "EST", "EST5EDT,M3.2.0", "EST5EDT,M13.2.0,M11.1.0", "EST5EDT,M3.6.0,M11.1.0",
            "EST5EDT,M3.2.7,M11.1.0", "EST5EDT,J0,J100", "EST5EDT,366,100", "EST5EDT,M3.2.0/168,M11.1.0", "<+08-8",
            "EST25", "EST5EDT,M3.2.0,M11.1.0x", "EST5:60",
        ] {
            #expect(throws: ZoneProblem.self, "\(bad)") { try Zone.parse(posixRule: bad, name: "x") }
        }
    }

    @Test func versionOneFilesUseTheThirtyTwoBitTable() throws {
        let bytes = TZdata.build(
            version: 0, transitions: [(1_000_000, 1), (2_000_000, 0)], offsets: [3600, 7200])
        let zone = try Zone.parse(tzif: bytes, name: "Test/One")
        #expect(zone.offset(at: 0) == 3600)
        #expect(zone.offset(at: 1_000_000) == 7200)
        #expect(zone.offset(at: 1_999_999) == 7200)
        #expect(zone.offset(at: 5_000_000_000) == 3600)  // no footer: the last type stays
    }

    @Test func aFileWithoutTransitionsUsesItsFooterAtAllTimes() throws {
        let bytes = TZdata.build(
            version: UInt8(ascii: "4"), transitions: [], offsets: [-18_000], footer: "EST5EDT,M3.2.0,M11.1.0")
        let zone = try Zone.parse(tzif: bytes, name: "Test/Footer")
        #expect(zone.offset(at: seconds("1950-07-01", 0, 0)) == -14_400)
        #expect(zone.offset(at: seconds("1950-01-01", 0, 0)) == -18_000)
        let noRule = TZdata.build(version: UInt8(ascii: "2"), transitions: [(100, 1)], offsets: [0, 3600])
        #expect(try Zone.parse(tzif: noRule, name: "x").offset(at: 5_000_000_000) == 3600)
    }

    @Test func truncatedFilesAreRefusedAtEveryLength() throws {
        let bytes = try TZdata.bytes("America/New_York")
        #expect(try Zone.parse(tzif: bytes, name: "x").offset(at: 0) == -18_000)
        for length in 0..<bytes.count {
            #expect(throws: ZoneProblem.self, "\(length) bytes") {
                try Zone.parse(tzif: Array(bytes[0..<length]), name: "x")
            }
        }
    }

    @Test func garbageIsRefusedWithAProblemNotACrash() throws {
        #expect(throws: ZoneProblem("not a TZif file (no \"TZif\" magic at byte 0)")) {
            try Zone.parse(tzif: Array("Not a zone file at all, but long enough to have a header".utf8), name: "x")
        }
        var badVersion = TZdata.build(version: UInt8(ascii: "2"), transitions: [], offsets: [0], footer: "UTC0")
        badVersion[4] = UInt8(ascii: "9")
        #expect(throws: ZoneProblem("TZif: unsupported version byte 57")) {
            try Zone.parse(tzif: badVersion, name: "x")
        }
        let badType = TZdata.build(version: UInt8(ascii: "2"), transitions: [(100, 3)], offsets: [0, 3600])
        #expect(throws: ZoneProblem("TZif: transition type 3 is not among the 2 types")) {
            try Zone.parse(tzif: badType, name: "x")
        }
        let backwards = TZdata.build(
            version: UInt8(ascii: "2"), transitions: [(200, 1), (100, 0)], offsets: [0, 3600])
        #expect(throws: ZoneProblem("TZif: transition times are not ascending")) {
            try Zone.parse(tzif: backwards, name: "x")
        }
        let badFooter = TZdata.build(version: UInt8(ascii: "3"), transitions: [], offsets: [0], footer: "EST5EDT,M3")
        #expect(throws: ZoneProblem.self) { try Zone.parse(tzif: badFooter, name: "x") }
        var huge = TZdata.build(version: UInt8(ascii: "2"), transitions: [], offsets: [0])
        huge[32..<36] = [0x7f, 0xff, 0xff, 0xff]  // 2^31 - 1 transitions
        #expect(throws: ZoneProblem.self) { try Zone.parse(tzif: huge, name: "x") }

        // Random corruption of a real file: refused or read, never a crash.
        let real = try TZdata.bytes("Europe/London")
        var random = SplitMix64(seed: 42)
        for _ in 0..<2000 {
            var bytes = real
            for _ in 0..<Int(random.next() % 4 + 1) {
                bytes[Int(random.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: random.next())
            }
            if let zone = try? Zone.parse(tzif: bytes, name: "x") {
                _ = zone.offset(at: 1_790_000_000)
                _ = zone.instants(local: 1_790_000_000)
            }
        }
        for _ in 0..<200 {
            let bytes = (0..<Int(random.next() % 200)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            #expect(throws: ZoneProblem.self) { try Zone.parse(tzif: Array("TZif2".utf8) + bytes, name: "x") }
        }
    }

    @Test func leapSecondZonesAreRefused() throws {
        var bytes = TZdata.build(version: UInt8(ascii: "2"), transitions: [], offsets: [0], footer: "UTC0")
        bytes[31] = 1  // leapcnt = 1 in the first header
        #expect(
            throws: ZoneProblem("TZif: leap-second zones are not supported (use a zone without the \"right/\" prefix)")
        ) {
            try Zone.parse(tzif: bytes, name: "x")
        }
    }

    @Test func extremeInstantsAreTakenAsAtTheBound() throws {
        for zone in [try TZdata.zone("America/New_York"), Zone.utc] {
            for instant in [Int64.min, Int64.max, Zone.secondsBound * 2, -Zone.secondsBound * 2] {
                #expect(
                    zone.offset(at: instant) == zone.offset(at: instant < 0 ? -Zone.secondsBound : Zone.secondsBound))
                #expect(zone.instants(local: instant).count == 1)
                #expect(zone.gapEnd(local: instant) == nil)
                _ = zone.localSeconds(at: instant)
                _ = zone.earliestInstant(local: instant)
            }
        }
    }

    @Test func onlyIANALookingNamesAreValid() {
        for good in [
            "Asia/Shanghai", "UTC", "Etc/GMT+8", "Etc/GMT-14", "America/Argentina/Buenos_Aires",
            "America/Port-au-Prince",
        ] {
            #expect(Zone.isValidName(good), "\(good)")
        }
        for bad in [
            "", "/etc/passwd", "../etc/passwd", "Asia/../../etc", "Asia/Shanghai/", "Asia//Shanghai", "Asia/Shang hai",
            "Asia/Shanghai\u{0}", "Asia/Shanghaï", ".hidden", "Etc/+8", "a\\b", String(repeating: "A", count: 256),
        ] {
            #expect(!Zone.isValidName(bad), "\(bad)")
        }
    }
}
