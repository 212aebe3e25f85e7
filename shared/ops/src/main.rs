//! `vanta-ops`: see the library and `vanta-ops --help`.

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut out = String::new();
    let code = vanta_ops::run(&args, &|k| std::env::var(k).ok(), &mut out).await;
    print!("{out}");
    std::process::exit(code);
}
