//! The first command of the README: open a realm, observe it, write, and read back.
//!
//!     cargo run --release --example demo

use driftsync::*;

fn main() -> Result<()> {
    // 1. A schema: dogs with an owner, people with a list of tags.
    let schema = Schema::new(vec![
        ClassSchema::new(
            "Dog",
            "id",
            vec![Property::new("id", ScalarType::Int), Property::new("name", ScalarType::String), Property::link("owner", "Person")],
        ),
        ClassSchema::new(
            "Person",
            "name",
            vec![Property::new("name", ScalarType::String), Property::new("tags", ScalarType::String).list()],
        ),
    ])?;

    // 2. Open (or create) the realm file.
    let dir = std::env::temp_dir().join(format!("driftsync-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("demo.realm");
    let realm = Realm::open(RealmConfig::new(&path, schema))?;
    println!("opened {}", path.display());

    // 3. Observe every change; keep the token alive as long as you want notifications.
    let _token = realm.observe(ObserverScope::Realm, |changes| {
        for (class, c) in &changes.classes {
            for pk in &c.inserted {
                println!("  observed: {class}[{pk}] inserted");
            }
            for (pk, props) in &c.modified {
                println!("  observed: {class}[{pk}] modified: {}", props.iter().collect::<Vec<_>>().join(", "));
            }
            for pk in &c.erased {
                println!("  observed: {class}[{pk}] erased");
            }
        }
    })?;

    // 4. Write in transactions.
    println!("write 1: create a person and two dogs");
    realm.write(|r| {
        r.create("Person", "ann", &[])?;
        r.list_push("Person", &"ann".into(), "tags", "vet".into())?;
        r.create("Dog", 1, &[("name", "rex".into()), ("owner", Value::Link("ann".into()))])?;
        r.create("Dog", 2, &[("name", "fido".into())])
    })?;
    println!("write 2: rename a dog and tag ann again");
    realm.write(|r| {
        r.set("Dog", &2.into(), "name", "max".into())?;
        r.list_insert("Person", &"ann".into(), "tags", 0, "owner".into())
    })?;

    // 5. Read back, in primary-key order.
    println!("read back:");
    realm.for_each("Dog", |dog| {
        println!(
            "  Dog {} name={} owner={}",
            dog.pk,
            dog.value("name").unwrap_or(&Value::Null),
            dog.value("owner").unwrap_or(&Value::Null)
        );
        true
    })?;
    let tags: Vec<String> = realm.get_list("Person", &"ann".into(), "tags")?.iter().map(Value::to_string).collect();
    println!("  Person \"ann\" tags=[{}]", tags.join(", "));
    println!("  {} dogs, {} people", realm.count("Dog")?, realm.count("Person")?);

    drop(realm);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
