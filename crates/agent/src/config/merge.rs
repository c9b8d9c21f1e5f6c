//! Merging config trees, with Consul's rules: objects merge key by key, lists
//! are appended (so `retry_join` accumulates across files, as in Consul), any
//! other value is replaced by the later one. Knows nothing about keys.

use serde_json::Value;

/// Merges `later` into `earlier`, so `later` wins. A `null` in `later` sets
/// nothing, as an absent key would (Consul's unset pointer).
pub(super) fn merge(earlier: &mut Value, later: Value) {
    match (earlier, later) {
        (_, Value::Null) => {}
        (Value::Object(into), Value::Object(from)) => {
            for (key, value) in from {
                match into.get_mut(&key) {
                    Some(existing) => merge(existing, value),
                    None if value.is_null() => {}
                    None => {
                        into.insert(key, value);
                    }
                }
            }
        }
        (Value::Array(into), Value::Array(from)) => into.extend(from),
        (earlier, later) => *earlier = later,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn objects_merge_lists_append_scalars_replace() {
        let mut tree =
            json!({"a": 1, "ports": {"http": 1, "dns": 2}, "retry_join": ["x"], "keep": true});
        merge(
            &mut tree,
            json!({"a": 2, "ports": {"http": 3}, "retry_join": ["y"], "keep": null, "new": null}),
        );
        assert_eq!(
            tree,
            json!({"a": 2, "ports": {"http": 3, "dns": 2}, "retry_join": ["x", "y"], "keep": true})
        );
    }

    #[test]
    fn a_value_of_another_kind_replaces() {
        let mut tree = json!({"service": {"name": "a"}, "n": [1]});
        merge(&mut tree, json!({"service": [{"name": "b"}], "n": 2}));
        assert_eq!(tree, json!({"service": [{"name": "b"}], "n": 2}));
    }
}
