//! The fault soak (e2e/src/soak.rs) for scripts/soak.sh: `soak [--seconds N] [--clients N]
//! [--seed N]`. Prints the figures; exits 1 when a check failed.

use anyhow::{bail, Context, Result};

#[tokio::main]
async fn main() -> Result<()> {
    let mut opts = activity_e2e::soak::Options::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || -> Result<u64> {
            args.next()
                .with_context(|| format!("{arg} needs a value"))?
                .parse()
                .with_context(|| format!("{arg} needs a number"))
        };
        match arg.as_str() {
            "--seconds" => opts.seconds = value()?,
            "--clients" => opts.clients_per_tenant = usize::try_from(value()?)?,
            "--seed" => opts.seed = value()?,
            _ => {
                bail!("unknown argument {arg}; usage: soak [--seconds N] [--clients N] [--seed N]")
            }
        }
    }
    let report = activity_e2e::soak::run(opts).await?;
    print!("{}", report.figures);
    if !report.violations.is_empty() {
        bail!("{} checks failed", report.violations.len());
    }
    Ok(())
}
