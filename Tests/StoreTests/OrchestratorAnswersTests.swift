import Core
import Store
import Testing
import Wire

@Suite struct OrchestratorAnswersTests {
    @Test func theNewestAnswersAreReadBackAndAnyOtherOnRequest() throws {
        try withTemporaryDirectory { directory in
            let path = "\(directory)/orchestrator.db"
            let store = try OrchestratorStore(path: path)
            var turn = OrchestratorTurn()
            turn.answers = (1...5).map { ($0, OperationResult(request: $0, status: .accepted, detail: "run \($0) started")) }
            _ = try store.commit(turn, now: Timestamp(milliseconds: 1))
            store.database.close()
            let reopened = try OrchestratorStore(path: path)
            let (_, snapshot) = try reopened.open(shards: [1], answersInMemory: 2)
            #expect(snapshot.answered.keys.sorted() == [4, 5])
            #expect(try reopened.answer(1)?.detail == "run 1 started")
            #expect(try reopened.answer(6) == nil)
            reopened.database.close()
        }
    }
}
