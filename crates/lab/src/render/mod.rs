//! Pure rendering of every file and document the lab hands to other programs: the CNI
//! network configuration, the Calico resources it applies, and the ToR routers' configs.

pub mod bird;
pub mod cni_conf;
pub mod frr;
pub mod resources;
