//! Pure rendering of every file and document the lab hands to other programs: the CNI
//! network configuration, the Calico resources it applies, and the ToR routers' configs
//! (our own ToR's command line).

pub mod bird;
pub mod calico_tor;
pub mod cni_conf;
pub mod frr;
pub mod resources;
