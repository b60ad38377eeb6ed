fn main() {
    let p = std::env::args().nth(1).unwrap();
    match harness::scenario::load(&harness::scenario::locate(&p)) {
        Ok(s) => {
            for z in &s.zones {
                println!(";; {}", z.origin);
                for r in &z.records { println!("{r}"); }
            }
            for q in &s.queries { println!("{q:?}"); }
            for q in &s.probes { println!("{q:?}"); }
        }
        Err(d) => println!("{d}"),
    }
}
