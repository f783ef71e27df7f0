//! Prints the terms of each line of standard input (or of each argument), one line per text,
//! to see how a complaint is segmented: `cargo run -p rentops-insight --example terms -- 押金没退`.

use std::io::BufRead;

use rentops_insight::Keywords;

fn main() -> std::io::Result<()> {
    let keywords = Keywords::new(&[]);
    let args: Vec<String> = std::env::args().skip(1).collect();
    let texts: Vec<String> = if args.is_empty() {
        std::io::stdin().lock().lines().collect::<Result<_, _>>()?
    } else {
        args
    };
    for text in texts {
        println!("{}", keywords.terms(&text).join(" | "));
    }
    Ok(())
}
