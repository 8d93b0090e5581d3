//! The `calico-ipam` CNI IPAM plugin binary.

fn main() -> std::process::ExitCode {
    cni::skel::main("calico-ipam", cni::calico_ipam::handle)
}
