import Commands

#if canImport(Glibc)
    import Glibc
#endif

exit(Baton.main(Array(CommandLine.arguments.dropFirst())).rawValue)
