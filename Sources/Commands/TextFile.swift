import Foundation
import Glibc

/// A text file a user named on the command line.
enum TextFile {
    /// The text of `path`, or why it cannot be read, as a sentence to follow the path: no such file, a
    /// folder (whose files are meant), a file this user may not read, or one that is not UTF-8 text.
    static func read(_ path: String) -> Result<String, Unreadable> {
        var status = stat()
        guard stat(path, &status) == 0 else {
            return .failure(Unreadable(errno == ENOENT || errno == ENOTDIR ? "no such file" : "cannot read it (\(String(cString: strerror(errno))))"))
        }
        if status.st_mode & S_IFMT == S_IFDIR {
            return .failure(Unreadable("is a folder: give the files in it (\(path.hasSuffix("/") ? path : path + "/")*.json)"))
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            return .failure(Unreadable("cannot read it (\(access(path, R_OK) != 0 ? String(cString: strerror(errno)) : "an error reading it"))"))
        }
        guard let text = String(data: data, encoding: .utf8) else { return .failure(Unreadable("is not UTF-8 text")) }
        return .success(text)
    }

    struct Unreadable: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }
}
