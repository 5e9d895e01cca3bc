/// The dashboard's pages: one HTML shell for every page, which names the page for the script, and the
/// stylesheet and script compiled into the binary from `Web/Assets`.
enum DashboardAssets {
    /// The pages, by path, and the name of each for the script.
    static let pages = ["/": "products", "/runs": "runs", "/run": "run", "/flows": "flows", "/flow": "flow", "/shards": "shards"]

    static let files: [String: (type: String, text: String)] = [
        "/static/baton.css": ("text/css; charset=utf-8", String(decoding: PackageResources.baton_css, as: UTF8.self)),
        "/static/baton.js": ("text/javascript; charset=utf-8", String(decoding: PackageResources.baton_js, as: UTF8.self)),
    ]

    static let navigation: [(path: String, page: String, title: String)] = [
        ("/", "products", "Products"), ("/runs", "runs", "Runs"), ("/flows", "flows", "Flows"), ("/shards", "shards", "Shards and workers"),
    ]

    static func shell(page: String) -> String {
        let current = ["run": "runs", "flow": "flows"][page] ?? page
        let links = navigation.map { item in
            "<a href=\"\(item.path)\"\(item.page == current ? " class=\"here\"" : "")>\(item.title)</a>"
        }.joined()
        return """
            <!doctype html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>Baton</title>
            <link rel="icon" href="data:,">
            <link rel="stylesheet" href="/static/baton.css">
            <script src="/static/baton.js" defer></script>
            </head>
            <body data-page="\(page)">
            <header><span class="brand">Baton</span><nav>\(links)</nav><span class="status"><span id="role"></span><span id="live">loading…</span></span></header>
            <main><noscript>The dashboard draws its pages with a small script: allow JavaScript for this address.</noscript></main>
            </body>
            </html>

            """
    }
}
