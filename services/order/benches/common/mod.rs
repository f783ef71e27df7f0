//! What the order benchmarks book: one app order in Shanghai, PVG to SHA, three days ahead.

use rentops_order::domain::*;

/// An ES6 booked on the app under `reference`, placed at `now`.
pub fn booking(reference: &str, customer_id: &str, now: time::OffsetDateTime) -> Booking {
    Booking {
        channel: Channel::App,
        partner_code: String::new(),
        channel_order_ref: reference.to_owned(),
        customer: Customer {
            customer_id: customer_id.to_owned(),
            name: "王芳".into(),
            phone: "13800000000".into(),
        },
        city: CityCode::parse("SHA").expect("a city code"),
        pickup_location: Location::Station("PVG".into()),
        pickup_at: now + time::Duration::days(3),
        return_location: Location::Station("SHA".into()),
        return_at: now + time::Duration::days(5),
        model: VehicleModel::Es6,
        add_ons: vec![],
        price: Fen(120_000),
        rental_deposit: Fen(0),
        violation_deposit: Fen(0),
        notes: String::new(),
        cover: CoverTier::Basic,
    }
}
