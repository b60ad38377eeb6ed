fn main() {
    let p = std::env::args().nth(1).unwrap();
    let k = std::env::args().nth(2).unwrap_or("hickory".into());
    let s = harness::scenario::load(&harness::scenario::locate(&p)).unwrap();
    let o = harness::run::run(&s, harness::resolver::Kind::parse(&k).unwrap(), &()).unwrap();
    println!("{}", serde_json::to_string_pretty(&o).unwrap());
}
