//! Issue 2, point 2: schema validation and migrations (additive migrate, breaking is a typed
//! error listing every difference).

use driftsync::schema::AdditiveChange;
use driftsync::*;
use std::path::Path;

fn p(name: &str, t: ScalarType) -> Property {
    Property::new(name, t)
}

fn invalid(classes: Vec<ClassSchema>, class: &str, property: Option<&str>) {
    let err = Schema::new(classes).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidSchema, "{err}");
    let msg = err.to_string();
    assert!(msg.contains(&format!("class '{class}'")), "message does not name class '{class}': {msg}");
    if let Some(prop) = property {
        assert!(msg.contains(&format!("property '{prop}'")), "message does not name property '{prop}': {msg}");
    }
}

#[test]
fn valid_schema_with_every_type_is_accepted() {
    let mut props = vec![p("id", ScalarType::Int)];
    for t in [
        ScalarType::Bool,
        ScalarType::Int,
        ScalarType::Double,
        ScalarType::String,
        ScalarType::Binary,
        ScalarType::Timestamp,
        ScalarType::ObjectId,
        ScalarType::Uuid,
    ] {
        props.push(p(&format!("{}_req", t.name()), t));
        props.push(p(&format!("{}_opt", t.name()), t).optional());
        props.push(p(&format!("{}_list", t.name()), t).list());
        props.push(p(&format!("{}_optlist", t.name()), t).list().optional());
    }
    props.push(Property::link("link", "Other"));
    props.push(Property::link_list("links", "Other"));
    let other = |name: &str, pk: ScalarType| ClassSchema::new(name, "k", vec![p("k", pk)]);
    let s = Schema::new(vec![
        ClassSchema::new("All", "id", props),
        other("Other", ScalarType::String),
        other("ByOid", ScalarType::ObjectId),
        other("ByUuid", ScalarType::Uuid),
    ])
    .unwrap();
    assert_eq!(s.classes.len(), 4);
    // The JSON form round-trips.
    assert_eq!(Schema::from_json(&s.to_json()).unwrap(), s);
}

#[test]
fn schema_error_missing_class_name_names_the_class() {
    invalid(vec![ClassSchema::new("", "id", vec![p("id", ScalarType::Int)])], "", None);
}

#[test]
fn schema_error_duplicate_class_names_the_class() {
    let c = ClassSchema::new("Dup", "id", vec![p("id", ScalarType::Int)]);
    invalid(vec![c.clone(), c], "Dup", None);
}

#[test]
fn schema_error_missing_property_name_names_class_and_property() {
    invalid(vec![ClassSchema::new("A", "id", vec![p("id", ScalarType::Int), p("", ScalarType::Int)])], "A", Some(""));
}

#[test]
fn schema_error_duplicate_property_names_class_and_property() {
    invalid(
        vec![ClassSchema::new("A", "id", vec![p("id", ScalarType::Int), p("x", ScalarType::Int), p("x", ScalarType::String)])],
        "A",
        Some("x"),
    );
}

#[test]
fn schema_error_link_to_unknown_class_names_class_and_property() {
    invalid(vec![ClassSchema::new("A", "id", vec![p("id", ScalarType::Int), Property::link("friend", "Nobody")])], "A", Some("friend"));
    let err =
        Schema::new(vec![ClassSchema::new("A", "id", vec![p("id", ScalarType::Int), Property::link_list("fs", "Nobody")])]).unwrap_err();
    assert!(err.to_string().contains("Nobody"), "{err}");
}

#[test]
fn schema_error_link_without_target_names_class_and_property() {
    invalid(vec![ClassSchema::new("A", "id", vec![p("id", ScalarType::Int), p("l", ScalarType::Link).optional()])], "A", Some("l"));
}

#[test]
fn schema_error_required_single_link_names_class_and_property() {
    let mut l = Property::link("l", "A");
    l.optional = false;
    invalid(vec![ClassSchema::new("A", "id", vec![p("id", ScalarType::Int), l])], "A", Some("l"));
}

#[test]
fn schema_error_optional_list_of_links_names_class_and_property() {
    let l = Property::link_list("ls", "A").optional();
    invalid(vec![ClassSchema::new("A", "id", vec![p("id", ScalarType::Int), l])], "A", Some("ls"));
}

#[test]
fn schema_error_target_on_non_link_names_class_and_property() {
    let mut x = p("x", ScalarType::Int);
    x.target = Some("A".into());
    invalid(vec![ClassSchema::new("A", "id", vec![p("id", ScalarType::Int), x])], "A", Some("x"));
}

#[test]
fn schema_error_missing_primary_key_names_class() {
    invalid(vec![ClassSchema::new("A", "", vec![p("id", ScalarType::Int)])], "A", None);
}

#[test]
fn schema_error_primary_key_naming_no_property_names_class_and_property() {
    invalid(vec![ClassSchema::new("A", "nope", vec![p("id", ScalarType::Int)])], "A", Some("nope"));
}

#[test]
fn schema_error_list_as_primary_key_names_class_and_property() {
    invalid(vec![ClassSchema::new("A", "ids", vec![p("ids", ScalarType::Int).list()])], "A", Some("ids"));
}

#[test]
fn schema_error_bad_primary_key_type_names_class_and_property() {
    for t in [ScalarType::Bool, ScalarType::Double, ScalarType::Binary, ScalarType::Timestamp] {
        invalid(vec![ClassSchema::new("A", "k", vec![p("k", t)])], "A", Some("k"));
    }
}

#[test]
fn schema_error_optional_primary_key_names_class_and_property() {
    invalid(vec![ClassSchema::new("A", "k", vec![p("k", ScalarType::String).optional()])], "A", Some("k"));
}

#[test]
fn schema_error_bad_json_is_invalid_schema() {
    assert_eq!(Schema::from_json("{").unwrap_err().code(), ErrorCode::InvalidSchema);
    assert_eq!(
        Schema::from_json(r#"{"classes":[{"name":"A","primaryKey":"id","properties":[{"name":"id","type":"float"}]}]}"#)
            .unwrap_err()
            .code(),
        ErrorCode::InvalidSchema
    );
    let err = Schema::from_json(r#"{"classes":[{"name":"A","primaryKey":"id","properties":[{"name":"id","type":"Int","list":true}]}]}"#)
        .unwrap_err();
    assert!(err.to_string().contains("class 'A'") && err.to_string().contains("property 'id'"), "{err}");
}

// ---- migrations ---------------------------------------------------------------------------

fn person_v1() -> ClassSchema {
    ClassSchema::new(
        "Person",
        "id",
        vec![
            p("id", ScalarType::Int),
            p("name", ScalarType::String),
            p("age", ScalarType::Int).optional(),
            p("tags", ScalarType::String).list(),
        ],
    )
}

fn v1() -> Schema {
    Schema::new(vec![person_v1(), ClassSchema::new("Pet", "name", vec![p("name", ScalarType::String)])]).unwrap()
}

fn with_person(extra: Vec<Property>, f: impl Fn(&mut Vec<Property>)) -> Schema {
    let mut props = person_v1().properties;
    f(&mut props);
    props.extend(extra);
    Schema::new(vec![ClassSchema::new("Person", "id", props), ClassSchema::new("Pet", "name", vec![p("name", ScalarType::String)])])
        .unwrap()
}

fn seed(path: &Path) {
    let realm = Realm::open(RealmConfig::new(path, v1())).unwrap();
    realm
        .write(|r| {
            r.create("Person", 1, &[("name", "ann".into()), ("age", Value::Int(30))])?;
            r.list_push("Person", &1.into(), "tags", "x".into())?;
            r.create("Pet", "rex", &[])?;
            Ok(())
        })
        .unwrap();
}

fn assert_seed_intact(realm: &Realm) {
    assert_eq!(realm.get_value("Person", &1.into(), "name").unwrap(), Value::from("ann"));
    assert_eq!(realm.get_value("Person", &1.into(), "age").unwrap(), Value::Int(30));
    assert_eq!(realm.get_list("Person", &1.into(), "tags").unwrap(), vec![Value::from("x")]);
    assert!(realm.exists("Pet", &"rex".into()).unwrap());
}

/// Opens with `new`, expects a breaking change whose list has exactly `expected` lines (each
/// containing the given fragments), and checks that nothing changed in the file.
fn breaking(new: Schema, expected: &[&[&str]]) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.realm");
    seed(&path);
    let before = std::fs::read(&path).unwrap();
    let err = Realm::open(RealmConfig::new(&path, new.clone())).unwrap_err();
    assert_eq!(err.code(), ErrorCode::BreakingSchemaChange, "{err}");
    let Error::BreakingSchemaChange(list) = &err else { unreachable!() };
    assert_eq!(list.len(), expected.len(), "every difference listed, nothing else: {list:?}");
    for frags in expected {
        assert!(list.iter().any(|l| frags.iter().all(|f| l.contains(f))), "no line with {frags:?} in {list:?}");
    }
    assert!(std::fs::read(&path).unwrap() == before, "a rejected migration modified the file");
    // The classifier is the same function: Schema::diff.
    assert_eq!(&v1().diff(&new).breaking, list);
    // The old schema still opens, with the data.
    let realm = Realm::open(RealmConfig::new(&path, v1())).unwrap();
    assert_seed_intact(&realm);
    // And the same breaking change on an already open file is refused too.
    let err2 = Realm::open(RealmConfig::new(&path, new)).unwrap_err();
    assert_eq!(err2, err);
    assert_seed_intact(&realm);
}

#[test]
fn migration_additive_new_class() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.realm");
    seed(&path);
    let mut classes = v1().classes;
    classes.push(ClassSchema::new("Car", "plate", vec![p("plate", ScalarType::String), p("wheels", ScalarType::Int)]));
    let new = Schema::new(classes).unwrap();
    let d = v1().diff(&new);
    assert!(!d.is_breaking());
    assert!(matches!(&d.additive[..], [AdditiveChange::AddClass(c)] if c.name == "Car"));
    let realm = Realm::open(RealmConfig::new(&path, new.clone())).unwrap();
    assert_seed_intact(&realm);
    realm.write(|r| r.create("Car", "AB-1", &[("wheels", Value::Int(4))])).unwrap();
    drop(realm);
    let realm = Realm::open(RealmConfig::new(&path, new)).unwrap();
    assert_eq!(realm.get_value("Car", &"AB-1".into(), "wheels").unwrap(), Value::Int(4));
    assert!(realm.schema().class("Car").is_ok());
}

#[test]
fn migration_additive_new_optional_property() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.realm");
    seed(&path);
    let new = with_person(vec![p("email", ScalarType::String).optional()], |_| {});
    assert!(
        matches!(&v1().diff(&new).additive[..], [AdditiveChange::AddProperty { class, property }] if class == "Person" && property.name == "email")
    );
    let realm = Realm::open(RealmConfig::new(&path, new)).unwrap();
    assert_seed_intact(&realm);
    assert_eq!(realm.get_value("Person", &1.into(), "email").unwrap(), Value::Null, "old objects read null");
    realm.write(|r| r.set("Person", &1.into(), "email", "a@b".into())).unwrap();
    assert_eq!(realm.get_value("Person", &1.into(), "email").unwrap(), Value::from("a@b"));
}

#[test]
fn migration_additive_new_list() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.realm");
    seed(&path);
    let new = with_person(vec![p("scores", ScalarType::Double).list(), Property::link_list("pets", "Pet")], |_| {});
    assert_eq!(v1().diff(&new).additive.len(), 2);
    let realm = Realm::open(RealmConfig::new(&path, new)).unwrap();
    assert_seed_intact(&realm);
    assert_eq!(realm.get_list("Person", &1.into(), "scores").unwrap(), Vec::<Value>::new());
    realm.write(|r| r.list_push("Person", &1.into(), "pets", Value::Link("rex".into()))).unwrap();
    assert_eq!(realm.get_list("Person", &1.into(), "pets").unwrap(), vec![Value::Link("rex".into())]);
}

#[test]
fn migration_additive_on_an_already_open_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.realm");
    seed(&path);
    let first = Realm::open(RealmConfig::new(&path, v1())).unwrap();
    let new = with_person(vec![p("nick", ScalarType::String).optional()], |_| {});
    let second = Realm::open(RealmConfig::new(&path, new.clone())).unwrap();
    assert!(second.schema().class("Person").unwrap().1.property("nick").is_ok());
    second.write(|r| r.set("Person", &1.into(), "nick", "a".into())).unwrap();
    assert_eq!(first.get_value("Person", &1.into(), "nick").unwrap(), Value::from("a"));
    drop((first, second));
    let realm = Realm::open(RealmConfig::new(&path, new)).unwrap();
    assert_eq!(realm.get_value("Person", &1.into(), "nick").unwrap(), Value::from("a"));
}

#[test]
fn migration_same_schema_is_no_change() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.realm");
    seed(&path);
    assert!(v1().diff(&v1()).is_empty());
    let before = std::fs::read(&path).unwrap();
    let realm = Realm::open(RealmConfig::new(&path, v1())).unwrap();
    assert_seed_intact(&realm);
    drop(realm);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let json: String = conn.query_row("SELECT value FROM ds_meta WHERE key='schema'", [], |r| r.get(0)).unwrap();
    assert_eq!(Schema::from_json(&json).unwrap(), v1());
    assert_eq!(before.len(), std::fs::read(&path).unwrap().len());
}

#[test]
fn migration_breaking_removed_class() {
    breaking(Schema::new(vec![person_v1()]).unwrap(), &[&["Pet", "removed"]]);
}

#[test]
fn migration_breaking_removed_property() {
    breaking(with_person(vec![], |ps| ps.retain(|x| x.name != "age")), &[&["Person", "age", "removed"]]);
}

#[test]
fn migration_breaking_type_change() {
    breaking(
        with_person(vec![], |ps| ps.iter_mut().filter(|x| x.name == "name").for_each(|x| x.kind = ScalarType::Int)),
        &[&["Person", "name", "string", "int"]],
    );
}

#[test]
fn migration_breaking_optionality_change() {
    breaking(
        with_person(vec![], |ps| ps.iter_mut().filter(|x| x.name == "age").for_each(|x| x.optional = false)),
        &[&["Person", "age", "int?"]],
    );
    breaking(
        with_person(vec![], |ps| ps.iter_mut().filter(|x| x.name == "name").for_each(|x| x.optional = true)),
        &[&["Person", "name", "string?"]],
    );
}

#[test]
fn migration_breaking_list_change() {
    breaking(
        with_person(vec![], |ps| ps.iter_mut().filter(|x| x.name == "tags").for_each(|x| x.list = false)),
        &[&["Person", "tags", "list<string>"]],
    );
}

#[test]
fn migration_breaking_primary_key_change() {
    let new = Schema::new(vec![
        ClassSchema::new("Person", "name", person_v1().properties),
        ClassSchema::new("Pet", "name", vec![p("name", ScalarType::String)]),
    ])
    .unwrap();
    breaking(new, &[&["Person", "primary key", "'id'", "'name'"]]);
}

#[test]
fn migration_breaking_new_required_property() {
    breaking(with_person(vec![p("ssn", ScalarType::String)], |_| {}), &[&["Person", "ssn", "required"]]);
}

#[test]
fn migration_breaking_lists_every_difference() {
    // Five breaking differences at once, plus an additive one that must not be listed.
    let new = Schema::new(vec![ClassSchema::new(
        "Person",
        "id",
        vec![
            p("id", ScalarType::Int),
            p("name", ScalarType::Binary),
            p("tags", ScalarType::String).list().optional(),
            p("ssn", ScalarType::String),
            p("email", ScalarType::String).optional(),
        ],
    )])
    .unwrap();
    breaking(new, &[&["Pet", "removed"], &["age", "removed"], &["name", "binary"], &["tags", "list<string>?"], &["ssn", "required"]]);
}
