import Commands
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

// A reader that went away (`baton runs | head`) is not an error worth dying of.
signal(SIGPIPE, SIG_IGN)
exit(Baton.main(Array(CommandLine.arguments.dropFirst()), environment: ProcessInfo.processInfo.environment).rawValue)
