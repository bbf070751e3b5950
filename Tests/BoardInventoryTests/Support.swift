import Foundation

/// The package root, from this file's path (Tests/BoardInventoryTests/Support.swift).
let packageRoot: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// The real board blobs (Debian's kernel package), beside the repository in ../shared.
let realCorpus: URL = packageRoot.deletingLastPathComponent().appendingPathComponent("shared/corpus/real")

/// Every `.dtb` of the corpus, sorted.
func corpusBoards() -> [URL] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: realCorpus.path)) ?? []
    return names.filter { $0.hasSuffix(".dtb") }.sorted().map { realCorpus.appendingPathComponent($0) }
}
