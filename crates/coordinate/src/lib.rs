//! Network coordinates: the Vivaldi algorithm as Consul uses it (the
//! `serf/coordinate` package's documented behaviour), so that round-trip
//! times between any two nodes can be estimated from a few numbers each.
//!
//! Each node holds a [`Coordinate`]: a point in an 8-dimensional Euclidean
//! space plus a *height* (the time a packet spends on the node's own access
//! link, which every path to it pays), an *adjustment* (a per-node offset
//! that absorbs what the Euclidean model cannot), and an *error* estimate.
//! The estimated round-trip time between two nodes is the distance between
//! their points plus both heights, plus both adjustments when that sum stays
//! positive ([`Coordinate::distance_to`]). Units are seconds.
//!
//! A node improves its coordinate with every measured round-trip time to a
//! peer whose coordinate it knows ([`Client::update`]):
//! - the sample goes through a per-peer **latency filter** (the median of
//!   the last `latency_filter_size` samples), so one delayed packet does not
//!   move the coordinate;
//! - **Vivaldi**: the node moves along the line to the peer by a step
//!   proportional to how wrong the current estimate is, weighted by its
//!   confidence relative to the peer's (the adaptive timestep), and its
//!   error is a moving average of the relative error;
//! - the **height** grows or shrinks with the same force (never below
//!   `height_min`);
//! - the **adjustment** is half the mean of the last
//!   `adjustment_window_size` differences between measured and Euclidean
//!   distance;
//! - **gravity** pulls the coordinate towards the origin with a force that
//!   grows with the square of its distance over `gravity_rho`, so that the
//!   whole system does not drift away.
//!
//! A sample that is not a usable round-trip time (negative, NaN, above
//! [`MAX_RTT_SECONDS`]) or a peer coordinate that is not finite or has other
//! dimensions is refused and changes nothing; a result that would not be
//! finite resets the coordinate (it never happens with valid input, but a
//! coordinate is shared with every other node and must never poison them).
//!
//! Pure: no I/O, no clock; the one source of randomness (the direction to
//! move when two coordinates coincide) is a small generator seeded by the
//! caller.

use std::collections::HashMap;
use std::collections::VecDeque;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The largest round-trip time a sample may have, in seconds (Consul
/// refuses samples above 10 s as implausible).
pub const MAX_RTT_SECONDS: f64 = 10.0;

/// The dimensionality Consul uses, and so the length of `Vec` on the wire.
pub const DIMENSIONS: usize = 8;

/// The largest magnitude a peer's component may have, in seconds. Real
/// coordinates stay within a few seconds of the origin (gravity sees to
/// it); anything beyond this is refused so that no arithmetic overflows.
pub const MAX_COMPONENT: f64 = 1.0e6;

/// Below this, a distance or a weight counts as zero.
const ZERO_THRESHOLD: f64 = 1.0e-6;

/// How many peers' latency filters a client keeps; the oldest peer's is
/// dropped past it (a pool of thousands must not grow memory without bound).
pub const MAX_FILTERED_PEERS: usize = 4096;

/// The tuning of the algorithm; [`Config::default`] is Consul's.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Dimensions of the Euclidean part.
    pub dimensionality: usize,
    /// The error a new coordinate starts with, and the most it can reach.
    pub vivaldi_error_max: f64,
    /// How fast the error estimate follows new samples (`c_e`).
    pub vivaldi_ce: f64,
    /// How far a sample moves the coordinate (`c_c`).
    pub vivaldi_cc: f64,
    /// Samples the adjustment averages over (0: no adjustment).
    pub adjustment_window_size: usize,
    /// The smallest height, in seconds.
    pub height_min: f64,
    /// Samples per peer whose median is used (1: no filtering).
    pub latency_filter_size: usize,
    /// The distance (seconds) at which gravity's pull equals one second.
    pub gravity_rho: f64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            dimensionality: DIMENSIONS,
            vivaldi_error_max: 1.5,
            vivaldi_ce: 0.25,
            vivaldi_cc: 0.25,
            adjustment_window_size: 20,
            height_min: 10.0e-6,
            latency_filter_size: 3,
            gravity_rho: 150.0,
        }
    }
}

/// A node's network coordinate, in Consul's JSON shape (`Vec`, `Error`,
/// `Adjustment`, `Height`; seconds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Coordinate {
    /// The Euclidean part.
    pub vec: Vec<f64>,
    /// The node's confidence in its coordinate (lower is better).
    pub error: f64,
    /// The per-node offset added to distances.
    pub adjustment: f64,
    /// The node's own access-link delay.
    pub height: f64,
}

impl Coordinate {
    /// A coordinate at the origin with the maximum error: what a node
    /// starts with.
    pub fn new(config: &Config) -> Self {
        Coordinate {
            vec: vec![0.0; config.dimensionality],
            error: config.vivaldi_error_max,
            adjustment: 0.0,
            height: config.height_min,
        }
    }

    /// Every component is finite.
    pub fn is_valid(&self) -> bool {
        self.vec.iter().all(|c| c.is_finite())
            && self.error.is_finite()
            && self.adjustment.is_finite()
            && self.height.is_finite()
    }

    /// Finite, every component within [`MAX_COMPONENT`], error and height
    /// not negative: what a peer's coordinate (or one written over HTTP)
    /// must be to be used.
    pub fn is_sane(&self) -> bool {
        let in_range = |x: &f64| x.is_finite() && x.abs() <= MAX_COMPONENT;
        self.vec.iter().all(in_range)
            && in_range(&self.adjustment)
            && in_range(&self.error)
            && in_range(&self.height)
            && self.error >= 0.0
            && self.height >= 0.0
    }

    /// Both have the same number of dimensions.
    pub fn is_compatible_with(&self, other: &Coordinate) -> bool {
        self.vec.len() == other.vec.len()
    }

    /// The estimated round-trip time to `other`, in seconds: Euclidean
    /// distance plus both heights, plus both adjustments unless that makes
    /// it negative. Symmetric. Incompatible or invalid coordinates give
    /// `None`.
    pub fn distance_seconds(&self, other: &Coordinate) -> Option<f64> {
        if !self.is_compatible_with(other) || !self.is_valid() || !other.is_valid() {
            return None;
        }
        let dist = self.raw_distance(other);
        let adjusted = dist + (self.adjustment + other.adjustment);
        let seconds = if adjusted > 0.0 { adjusted } else { dist };
        seconds.is_finite().then_some(seconds.max(0.0))
    }

    /// [`Coordinate::distance_seconds`] as a duration.
    pub fn distance_to(&self, other: &Coordinate) -> Option<Duration> {
        self.distance_seconds(other)
            .and_then(|s| Duration::try_from_secs_f64(s).ok())
    }

    /// Euclidean distance plus heights, without adjustments.
    fn raw_distance(&self, other: &Coordinate) -> f64 {
        magnitude(self.vec.iter().zip(&other.vec).map(|(a, b)| a - b))
            + (self.height + other.height)
    }

    /// This coordinate moved by `force` (seconds; positive: away from
    /// `other`) along the line from `other`, with the height changed in
    /// proportion.
    fn apply_force(&self, config: &Config, force: f64, other: &Coordinate, rng: &mut Rng) -> Self {
        let (unit, mag) = unit_vector_at(&self.vec, &other.vec, rng);
        let vec = self
            .vec
            .iter()
            .zip(&unit)
            .map(|(c, u)| c + u * force)
            .collect();
        let mut height = self.height;
        if mag > ZERO_THRESHOLD {
            height = (self.height + other.height) * force / mag + self.height;
            height = height.max(config.height_min);
        }
        Coordinate {
            vec,
            error: self.error,
            adjustment: self.adjustment,
            height,
        }
    }
}

fn magnitude(components: impl Iterator<Item = f64>) -> f64 {
    components.map(|c| c * c).sum::<f64>().sqrt()
}

/// The unit vector from `b` to `a` and the distance between them; a random
/// direction when they (nearly) coincide, so coincident nodes separate.
fn unit_vector_at(a: &[f64], b: &[f64], rng: &mut Rng) -> (Vec<f64>, f64) {
    let diff: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    let mag = magnitude(diff.iter().copied());
    if mag > ZERO_THRESHOLD && mag.is_finite() {
        return (diff.iter().map(|d| d / mag).collect(), mag);
    }
    for _ in 0..8 {
        let random: Vec<f64> = diff.iter().map(|_| rng.next_f64() - 0.5).collect();
        let m = magnitude(random.iter().copied());
        if m > ZERO_THRESHOLD {
            return (random.iter().map(|d| d / m).collect(), 0.0);
        }
    }
    // Astronomically unlikely: eight draws all near zero. Any axis will do.
    let mut axis = vec![0.0; diff.len()];
    if let Some(first) = axis.first_mut() {
        *first = 1.0;
    }
    (axis, 0.0)
}

/// A small xorshift generator: enough to pick a direction, deterministic
/// for a given seed (tests replay), no dependency.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }

    /// Uniform in [0, 1).
    fn next_f64(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Why a sample was refused (nothing changed).
#[derive(Debug, Clone, PartialEq)]
pub enum SampleError {
    /// The round-trip time is negative, not a number, or above
    /// [`MAX_RTT_SECONDS`].
    BadRtt(f64),
    /// The peer's coordinate has another number of dimensions.
    Dimensions { ours: usize, theirs: usize },
    /// The peer's coordinate has a component that is not finite or beyond
    /// [`MAX_COMPONENT`], or a negative error or height.
    InvalidPeer,
}

impl std::fmt::Display for SampleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SampleError::BadRtt(rtt) => write!(
                f,
                "round-trip time {rtt} s is not between 0 and {MAX_RTT_SECONDS} s"
            ),
            SampleError::Dimensions { ours, theirs } => write!(
                f,
                "peer coordinate has {theirs} dimensions, ours has {ours}"
            ),
            SampleError::InvalidPeer => f.write_str(
                "peer coordinate has a component that is not finite, out of range or negative",
            ),
        }
    }
}

impl std::error::Error for SampleError {}

/// One node's view: its own coordinate, kept up to date from samples,
/// with the per-peer latency filters and the adjustment window.
#[derive(Debug, Clone)]
pub struct Client {
    config: Config,
    coord: Coordinate,
    /// The origin gravity pulls towards.
    origin: Coordinate,
    /// Recent differences between measured and Euclidean distances.
    adjustment_samples: Vec<f64>,
    adjustment_next: usize,
    /// Recent samples per peer, and the order peers were first seen in
    /// (to drop the oldest past `MAX_FILTERED_PEERS`).
    filters: HashMap<String, VecDeque<f64>>,
    filter_order: VecDeque<String>,
    rng: Rng,
    /// Samples taken (for reports and tests).
    updates: u64,
    /// Times the coordinate was reset because it was no longer finite.
    resets: u64,
}

impl Client {
    /// A client at the origin. `seed` drives the direction chosen when two
    /// coordinates coincide (any value; give nodes different ones).
    ///
    /// # Panics
    /// Never for a config with at least one dimension; a zero-dimension
    /// config is refused here because no distance could be measured.
    pub fn new(config: Config, seed: u64) -> Self {
        assert!(
            config.dimensionality > 0,
            "a coordinate needs at least one dimension"
        );
        let coord = Coordinate::new(&config);
        let origin = Coordinate::new(&config);
        Client {
            adjustment_samples: vec![0.0; config.adjustment_window_size],
            adjustment_next: 0,
            filters: HashMap::new(),
            filter_order: VecDeque::new(),
            rng: Rng::new(seed),
            updates: 0,
            resets: 0,
            coord,
            origin,
            config,
        }
    }

    /// The current coordinate.
    pub fn coordinate(&self) -> &Coordinate {
        &self.coord
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// How many samples were applied.
    pub fn updates(&self) -> u64 {
        self.updates
    }

    /// How many times the coordinate was reset.
    pub fn resets(&self) -> u64 {
        self.resets
    }

    /// Replaces the coordinate (a restart restoring a saved one). Refused
    /// when it is invalid or has other dimensions.
    ///
    /// # Errors
    /// As [`Client::update`] for the peer coordinate.
    pub fn set_coordinate(&mut self, coord: Coordinate) -> Result<(), SampleError> {
        self.check_peer(&coord)?;
        self.coord = coord;
        Ok(())
    }

    /// Forgets a peer's latency filter (it left the pool).
    pub fn forget(&mut self, node: &str) {
        if self.filters.remove(node).is_some() {
            self.filter_order.retain(|n| n != node);
        }
    }

    /// Estimated round-trip time to a peer's coordinate, in seconds.
    pub fn distance_seconds(&self, other: &Coordinate) -> Option<f64> {
        self.coord.distance_seconds(other)
    }

    fn check_peer(&self, other: &Coordinate) -> Result<(), SampleError> {
        if !self.coord.is_compatible_with(other) {
            return Err(SampleError::Dimensions {
                ours: self.coord.vec.len(),
                theirs: other.vec.len(),
            });
        }
        if !other.is_sane() {
            return Err(SampleError::InvalidPeer);
        }
        Ok(())
    }

    /// Takes one sample: `rtt` measured to `node`, whose coordinate is
    /// `other`. Returns the updated coordinate.
    ///
    /// # Errors
    /// When the sample is unusable ([`SampleError`]); nothing changes.
    pub fn update(
        &mut self,
        node: &str,
        other: &Coordinate,
        rtt: Duration,
    ) -> Result<&Coordinate, SampleError> {
        self.update_seconds(node, other, rtt.as_secs_f64())
    }

    /// [`Client::update`] with the round-trip time in seconds (a float, so
    /// that a caller's NaN or negative value is refused here, not lost in a
    /// conversion).
    ///
    /// # Errors
    /// As [`Client::update`].
    pub fn update_seconds(
        &mut self,
        node: &str,
        other: &Coordinate,
        rtt: f64,
    ) -> Result<&Coordinate, SampleError> {
        if !(rtt.is_finite() && (0.0..=MAX_RTT_SECONDS).contains(&rtt)) {
            return Err(SampleError::BadRtt(rtt));
        }
        self.check_peer(other)?;
        let filtered = self.latency_filter(node, rtt);
        self.update_vivaldi(other, filtered);
        self.update_adjustment(other, filtered);
        self.update_gravity();
        if !self.coord.is_valid() {
            self.resets += 1;
            self.coord = Coordinate::new(&self.config);
            self.adjustment_samples.fill(0.0);
        }
        self.updates += 1;
        Ok(&self.coord)
    }

    /// The median of the peer's recent samples, this one included.
    fn latency_filter(&mut self, node: &str, rtt: f64) -> f64 {
        let size = self.config.latency_filter_size.max(1);
        if !self.filters.contains_key(node) {
            if self.filter_order.len() >= MAX_FILTERED_PEERS {
                if let Some(oldest) = self.filter_order.pop_front() {
                    self.filters.remove(&oldest);
                }
            }
            self.filter_order.push_back(node.to_owned());
        }
        let samples = self.filters.entry(node.to_owned()).or_default();
        samples.push_back(rtt);
        while samples.len() > size {
            samples.pop_front();
        }
        let mut sorted: Vec<f64> = samples.iter().copied().collect();
        sorted.sort_by(f64::total_cmp);
        sorted[sorted.len() / 2]
    }

    fn update_vivaldi(&mut self, other: &Coordinate, rtt: f64) {
        let c = &self.config;
        let rtt = rtt.max(ZERO_THRESHOLD);
        let dist = self.coord.raw_distance(other);
        let wrongness = (dist - rtt).abs() / rtt;
        let total_error = (self.coord.error + other.error).max(ZERO_THRESHOLD);
        let weight = self.coord.error / total_error;
        let error =
            c.vivaldi_ce * weight * wrongness + self.coord.error * (1.0 - c.vivaldi_ce * weight);
        let force = c.vivaldi_cc * weight * (rtt - dist);
        let mut moved = self.coord.apply_force(c, force, other, &mut self.rng);
        moved.error = error.min(c.vivaldi_error_max);
        self.coord = moved;
    }

    fn update_adjustment(&mut self, other: &Coordinate, rtt: f64) {
        let window = self.adjustment_samples.len();
        if window == 0 {
            return;
        }
        self.adjustment_samples[self.adjustment_next] = rtt - self.coord.raw_distance(other);
        self.adjustment_next = (self.adjustment_next + 1) % window;
        let sum: f64 = self.adjustment_samples.iter().sum();
        self.coord.adjustment = sum / (2.0 * window as f64);
    }

    fn update_gravity(&mut self) {
        let Some(dist) = self.origin.distance_seconds(&self.coord) else {
            return;
        };
        let force = -(dist / self.config.gravity_rho).powi(2);
        self.coord = self
            .coord
            .apply_force(&self.config, force, &self.origin, &mut self.rng);
    }
}

#[cfg(test)]
mod tests;
