fn main() {
    for t in [
        "key \"a${b}\" { policy = \"read\" }",
        "key \"a$${b}\" { policy = \"read\" }",
        "key \"a%{b}\" { policy = \"read\" }",
        "key \"a\\\"b\\\\c\\u00e9\\n\" { policy = \"read\" }",
        "key \"a\" { policy = \"read\"\n policy = \"write\" }",
        "key \"a\" {\n policy = \"write\" intentions = \"read\" }",
        "key \"a\" { policy = \"reed\" }",
        "key \"a\" {\n  policy = \"reed\"\n}",
        "\n\nkey \"a\" {\n  policy = \"read\"\n}\nkeys \"b\" {}",
        "operator = \"read\"\noperator = \"write\"",
        "key \"foo\" \n{ policy = \"read\" }",
        "{\"key\": {\"a\": {\"policy\": \"reed\"}}}",
        "{\"key\": {\"a\": {\"policy\": \"read\"}},}",
        "{\n\"key\": [{\"a\": {\"policy\": \"read\"}}, {\"b\": {\"policy\": \"list\"}}]}",
        "key = { \"a\" = { policy = \"read\" } }",
        "key { a { policy = \"read\" } }",
        "service \"web\" { policy = \"read\" intentions = \"bad\" }",
        "service \"web\" {\n policy = \"read\"\n intentions = \"bad\" }",
        "a = [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
        "key_prefix \"x\" {\n # comment\n policy = \"LIST\" }",
    ] {
        println!("{t:?}\n   => {:?}", praetor_acl::Policy::parse(t).map(|p| p.rules().map(|r| format!("{}{} {:?}={}", r.resource, if r.prefix {"_prefix"} else {""}, r.name, r.access)).collect::<Vec<_>>()).map_err(|e| e.to_string()));
    }
}
