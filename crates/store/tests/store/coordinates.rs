//! The coordinates table: batch updates, what they skip, removal with the
//! node, the topic they touch, and snapshots.

use praetor_api::catalog::DeregisterRequest;
use praetor_store::catalog::NodeHealth;
use praetor_store::coordinate::{CoordRecord, Float, NodeCoordinate};
use praetor_store::{Command, Response, Store, Table};

fn node(name: &str) -> Command {
    Command::NodeHealth(NodeHealth {
        node: name.into(),
        id: String::new(),
        address: "10.0.0.1".into(),
        datacenter: "dc1".into(),
        status: "passing".into(),
        output: String::new(),
    })
}

fn coord(x: f64) -> CoordRecord {
    CoordRecord {
        vec: vec![Float(x); 8],
        error: Float(0.2),
        adjustment: Float(0.0),
        height: Float(0.0001),
    }
}

fn update(entries: &[(&str, f64)]) -> Command {
    Command::CoordinateBatchUpdate(
        entries
            .iter()
            .map(|(n, x)| NodeCoordinate {
                node: (*n).into(),
                segment: String::new(),
                coord: coord(*x),
            })
            .collect(),
    )
}

fn store_with(nodes: &[&str]) -> (Store, u64) {
    let mut store = Store::default();
    let mut index = 0;
    for n in nodes {
        index += 1;
        assert!(store.apply(index, &node(n)).ok());
    }
    (store, index)
}

#[test]
fn a_batch_writes_coordinates_of_known_nodes_and_skips_the_rest() {
    let (mut store, mut index) = store_with(&["a", "b"]);
    store.take_touched();
    index += 1;
    let mut nan = update(&[("b", 0.5)]);
    if let Command::CoordinateBatchUpdate(v) = &mut nan {
        v[0].coord.height = Float(f64::NAN);
    }
    let mut cmd = update(&[("a", 0.001), ("ghost", 0.002)]);
    if let (Command::CoordinateBatchUpdate(v), Command::CoordinateBatchUpdate(n)) = (&mut cmd, nan)
    {
        v.extend(n);
    }
    assert_eq!(store.apply(index, &cmd), Response::Applied(true));
    let list = store.coordinates().list();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0].node, "a");
    assert_eq!(list[0].coord, coord(0.001));
    assert_eq!(store.coordinates().index(), index);
    assert_eq!(store.table_index(Table::Coordinates), index);
    assert!(store.take_touched().tables.contains(&Table::Coordinates));

    // The same coordinate again changes nothing and keeps the index.
    index += 1;
    assert_eq!(
        store.apply(index, &update(&[("a", 0.001)])),
        Response::Applied(false)
    );
    assert_eq!(store.coordinates().index(), index - 1);
    assert!(!store.take_touched().tables.contains(&Table::Coordinates));

    // A later update replaces it.
    index += 1;
    assert!(store
        .apply(index, &update(&[("a", 0.003), ("b", 0.004)]))
        .ok());
    assert_eq!(store.coordinates().of_node("a")[0].coord, coord(0.003));
    assert_eq!(store.coordinates().len(), 2);
}

#[test]
fn deregistering_a_node_removes_its_coordinates() {
    let (mut store, mut index) = store_with(&["a", "b"]);
    index += 1;
    assert!(store
        .apply(index, &update(&[("a", 0.001), ("b", 0.002)]))
        .ok());
    store.take_touched();
    // A service deregistration leaves the node and its coordinate.
    index += 1;
    let service_only = Command::CatalogDeregister(
        DeregisterRequest {
            node: "a".into(),
            datacenter: String::new(),
            service_id: "nothing".into(),
            check_id: String::new(),
        }
        .into(),
    );
    store.apply(index, &service_only);
    assert_eq!(store.coordinates().len(), 2);
    index += 1;
    let whole = Command::CatalogDeregister(
        DeregisterRequest {
            node: "a".into(),
            datacenter: String::new(),
            service_id: String::new(),
            check_id: String::new(),
        }
        .into(),
    );
    assert!(store.apply(index, &whole).ok());
    assert!(store.coordinates().of_node("a").is_empty());
    assert_eq!(store.coordinates().len(), 1);
    assert_eq!(store.coordinates().index(), index);
    assert!(store.take_touched().tables.contains(&Table::Coordinates));
}

#[test]
fn coordinates_survive_a_snapshot_and_a_restore() {
    let (mut store, mut index) = store_with(&["a"]);
    index += 1;
    assert!(store.apply(index, &update(&[("a", 0.001)])).ok());
    let back = Store::decode_snapshot(&store.encode_snapshot().unwrap()).unwrap();
    assert_eq!(back.coordinates(), store.coordinates());

    let state = store.encode_state().unwrap();
    let (mut other, last) = store_with(&["x"]);
    assert!(other.apply(last + 1, &Command::Restore(state)).ok());
    assert_eq!(other.coordinates().list(), store.coordinates().list());
}

#[test]
fn a_transaction_that_deletes_a_node_removes_its_coordinates() {
    use praetor_store::txn::{CatalogOp, CatalogTarget, CatalogVerb, TxnOp};
    let (mut store, mut index) = store_with(&["a", "b"]);
    index += 1;
    assert!(store
        .apply(index, &update(&[("a", 0.001), ("b", 0.002)]))
        .ok());
    index += 1;
    let delete = Command::Txn(vec![TxnOp::Catalog(Box::new(CatalogOp {
        target: CatalogTarget::Node,
        verb: CatalogVerb::Delete,
        node: "b".into(),
        id: String::new(),
        register: Default::default(),
        index: 0,
    }))]);
    let answer = store.apply(index, &delete);
    assert!(matches!(answer, Response::Txn(_)), "{answer:?}");
    assert!(!store.catalog().has_node("b"));
    assert!(store.coordinates().of_node("b").is_empty());
    assert_eq!(store.coordinates().len(), 1);
}
