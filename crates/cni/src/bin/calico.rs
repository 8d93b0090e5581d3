//! The `calico` CNI plugin binary.

fn main() -> std::process::ExitCode {
    cni::skel::main("calico", cni::calico::handle)
}
