use proptest::prelude::*;

use super::Rng;
use super::*;

/// A network of `n` nodes: each at a point of a plane (its true
/// position) with an access-link delay; the true RTT is their distance plus
/// both delays. Seconds.
struct Network {
    points: Vec<(f64, f64)>,
    access: Vec<f64>,
}

impl Network {
    fn new(n: usize, seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let points = (0..n)
            .map(|_| (rng.next_f64() * 0.1, rng.next_f64() * 0.1))
            .collect();
        let access = (0..n).map(|_| 0.0005 + rng.next_f64() * 0.002).collect();
        Network { points, access }
    }

    fn rtt(&self, a: usize, b: usize) -> f64 {
        let (xa, ya) = self.points[a];
        let (xb, yb) = self.points[b];
        ((xa - xb).powi(2) + (ya - yb).powi(2)).sqrt() + self.access[a] + self.access[b]
    }
}

/// Runs `rounds` rounds in which every node samples one random peer, and
/// returns the clients.
fn simulate(net: &Network, rounds: usize, seed: u64) -> Vec<Client> {
    let n = net.points.len();
    let mut clients: Vec<Client> = (0..n)
        .map(|i| Client::new(Config::default(), seed.wrapping_add(i as u64 * 7919)))
        .collect();
    let mut pick = Rng::new(seed ^ 0xdead_beef);
    for _ in 0..rounds {
        for i in 0..n {
            let mut j = (pick.next_f64() * n as f64) as usize % n;
            if j == i {
                j = (j + 1) % n;
            }
            let peer = clients[j].coordinate().clone();
            clients[i]
                .update_seconds(&format!("n{j}"), &peer, net.rtt(i, j))
                .unwrap();
        }
    }
    clients
}

fn mean_relative_error(net: &Network, clients: &[Client]) -> f64 {
    let n = clients.len();
    let mut sum = 0.0;
    let mut count = 0.0;
    for i in 0..n {
        for j in (i + 1)..n {
            let est = clients[i]
                .coordinate()
                .distance_seconds(clients[j].coordinate())
                .unwrap();
            let truth = net.rtt(i, j);
            sum += (est - truth).abs() / truth;
            count += 1.0;
        }
    }
    sum / count
}

#[test]
fn converges_on_a_simulated_network_to_small_relative_error() {
    let net = Network::new(25, 42);
    let clients = simulate(&net, 1000, 7);
    let error = mean_relative_error(&net, &clients);
    eprintln!("25 nodes, 1000 rounds: mean relative error {error:.4}");
    assert!(error < 0.05, "mean relative error {error}");
    for c in &clients {
        assert!(
            c.coordinate().error < 0.5,
            "error estimate {:?}",
            c.coordinate()
        );
    }
}

#[test]
fn two_nodes_learn_their_round_trip_time() {
    let mut a = Client::new(Config::default(), 1);
    let mut b = Client::new(Config::default(), 2);
    let rtt = Duration::from_millis(10);
    for _ in 0..500 {
        let cb = b.coordinate().clone();
        a.update("b", &cb, rtt).unwrap();
        let ca = a.coordinate().clone();
        b.update("a", &ca, rtt).unwrap();
    }
    let est = a.coordinate().distance_seconds(b.coordinate()).unwrap();
    assert!((est - 0.010).abs() < 0.001, "estimate {est}");
}

#[test]
fn distance_is_symmetric() {
    let net = Network::new(8, 3);
    let clients = simulate(&net, 50, 11);
    for a in &clients {
        for b in &clients {
            assert_eq!(
                a.coordinate().distance_seconds(b.coordinate()),
                b.coordinate().distance_seconds(a.coordinate())
            );
        }
    }
}

#[test]
fn invalid_samples_are_refused_and_change_nothing() {
    let mut c = Client::new(Config::default(), 5);
    let peer = Coordinate::new(&Config::default());
    c.update("p", &peer, Duration::from_millis(5)).unwrap();
    let before = c.coordinate().clone();
    for bad in [
        -0.001,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        11.0,
        1e300,
    ] {
        assert!(
            matches!(
                c.update_seconds("p", &peer, bad),
                Err(SampleError::BadRtt(_))
            ),
            "{bad} accepted"
        );
    }
    let mut negative = peer.clone();
    negative.height = -1.0;
    assert_eq!(
        c.update("p", &negative, Duration::from_millis(5)),
        Err(SampleError::InvalidPeer)
    );
    let mut nan_peer = peer.clone();
    nan_peer.vec[3] = f64::NAN;
    assert_eq!(
        c.update("p", &nan_peer, Duration::from_millis(5)),
        Err(SampleError::InvalidPeer)
    );
    let mut short = peer.clone();
    short.vec.pop();
    assert_eq!(
        c.update("p", &short, Duration::from_millis(5)),
        Err(SampleError::Dimensions { ours: 8, theirs: 7 })
    );
    assert_eq!(c.coordinate(), &before);
    assert_eq!(c.updates(), 1);
}

#[test]
fn latency_filter_takes_the_median_of_recent_samples() {
    let mut c = Client::new(Config::default(), 9);
    assert_eq!(c.latency_filter("p", 0.010), 0.010);
    assert_eq!(c.latency_filter("p", 0.500), 0.500);
    assert_eq!(c.latency_filter("p", 0.012), 0.012);
    // One outlier among three recent samples is ignored.
    assert_eq!(c.latency_filter("p", 0.011), 0.012);
    assert_eq!(c.latency_filter("p", 0.009), 0.011);
    // Filters are per peer.
    assert_eq!(c.latency_filter("q", 0.2), 0.2);
}

#[test]
fn latency_filters_are_bounded() {
    let mut c = Client::new(Config::default(), 9);
    for i in 0..(MAX_FILTERED_PEERS + 10) {
        c.latency_filter(&format!("n{i}"), 0.01);
    }
    assert_eq!(c.filters.len(), MAX_FILTERED_PEERS);
    assert_eq!(c.filter_order.len(), MAX_FILTERED_PEERS);
    assert!(!c.filters.contains_key("n0"));
    c.forget("n20");
    assert_eq!(c.filters.len(), MAX_FILTERED_PEERS - 1);
}

#[test]
fn height_never_drops_below_the_minimum_and_coincident_nodes_separate() {
    let mut a = Client::new(Config::default(), 1);
    let b = Coordinate::new(&Config::default());
    // Both at the origin: the step goes in some random direction.
    a.update("b", &b, Duration::from_millis(20)).unwrap();
    assert!(a.coordinate().vec.iter().any(|x| *x != 0.0));
    for _ in 0..50 {
        a.update("b", &b, Duration::from_micros(1)).unwrap();
        assert!(a.coordinate().height >= Config::default().height_min);
    }
}

#[test]
fn json_shape_is_consuls() {
    let c = Coordinate::new(&Config::default());
    let json = serde_json::to_value(&c).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "Vec": [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            "Error": 1.5,
            "Adjustment": 0.0,
            "Height": 1.0e-5
        })
    );
}

fn finite() -> impl Strategy<Value = f64> {
    prop_oneof![
        -1.0e3..1.0e3f64,
        Just(0.0),
        any::<f64>().prop_filter("finite", |x| x.is_finite()),
    ]
}

fn peer() -> impl Strategy<Value = Coordinate> {
    (
        proptest::collection::vec(finite(), DIMENSIONS),
        finite(),
        finite(),
        finite(),
    )
        .prop_map(|(vec, error, adjustment, height)| Coordinate {
            vec,
            error,
            adjustment,
            height,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// No sequence of finite samples and finite peer coordinates, however
    /// extreme, makes the coordinate (or a distance from it) NaN or infinite.
    #[test]
    fn finite_samples_never_give_nan_or_infinity(
        samples in proptest::collection::vec((0usize..4, peer(), finite()), 1..64),
        seed in any::<u64>(),
    ) {
        let mut c = Client::new(Config::default(), seed);
        for (node, other, rtt) in &samples {
            let _ = c.update_seconds(&format!("n{node}"), other, *rtt);
            prop_assert!(c.coordinate().is_valid(), "{:?}", c.coordinate());
            prop_assert!(c.coordinate().height >= 0.0);
            prop_assert!(c.coordinate().error <= Config::default().vivaldi_error_max);
            if other.is_sane() {
                if let Some(d) = c.coordinate().distance_seconds(other) {
                    prop_assert!(d.is_finite() && d >= 0.0);
                }
            }
        }
    }

    /// Realistic samples (0 to 10 s) against a peer that learns too: both
    /// stay finite and the estimate stays symmetric.
    #[test]
    fn realistic_exchanges_stay_finite_and_symmetric(
        rtts in proptest::collection::vec(0.0..MAX_RTT_SECONDS, 1..100),
    ) {
        let mut a = Client::new(Config::default(), 1);
        let mut b = Client::new(Config::default(), 2);
        for rtt in rtts {
            let cb = b.coordinate().clone();
            a.update_seconds("b", &cb, rtt).unwrap();
            let ca = a.coordinate().clone();
            b.update_seconds("a", &ca, rtt).unwrap();
            prop_assert_eq!(
                a.coordinate().distance_seconds(b.coordinate()),
                b.coordinate().distance_seconds(a.coordinate())
            );
        }
    }
}
