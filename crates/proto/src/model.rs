//! `rentops.common.v1.VehicleModel` to and from the kernel's `VehicleModel`, written once for
//! every service: the wire enum numbers the same models the kernel names.

use rentops_kernel::VehicleModel;

use crate::common::VehicleModel as Pb;

/// The model's wire value.
pub fn model_to_pb(m: VehicleModel) -> i32 {
    (match m {
        VehicleModel::Et5 => Pb::Et5,
        VehicleModel::Et5t => Pb::Et5t,
        VehicleModel::Et7 => Pb::Et7,
        VehicleModel::Es6 => Pb::Es6,
        VehicleModel::Ec6 => Pb::Ec6,
        VehicleModel::Es7 => Pb::Es7,
        VehicleModel::Ec7 => Pb::Ec7,
        VehicleModel::Es8 => Pb::Es8,
    }) as i32
}

/// The model a wire value names; `None` for unspecified (0) and for numbers this code does not
/// know (a newer sender).
pub fn model_from_pb(v: i32) -> Option<VehicleModel> {
    Some(match Pb::try_from(v).ok()? {
        Pb::Unspecified => return None,
        Pb::Et5 => VehicleModel::Et5,
        Pb::Et5t => VehicleModel::Et5t,
        Pb::Et7 => VehicleModel::Et7,
        Pb::Es6 => VehicleModel::Es6,
        Pb::Ec6 => VehicleModel::Ec6,
        Pb::Es7 => VehicleModel::Es7,
        Pb::Ec7 => VehicleModel::Ec7,
        Pb::Es8 => VehicleModel::Es8,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_model_maps_to_its_own_wire_value_and_back() {
        for m in VehicleModel::ALL {
            let v = model_to_pb(m);
            assert_eq!(model_from_pb(v), Some(m));
            // The wire enum's names are the codes in SCREAMING_SNAKE form.
            let wire = Pb::try_from(v).map(|p| p.as_str_name().to_owned());
            assert_eq!(wire.as_deref(), Ok(format!("VEHICLE_MODEL_{}", m.code()).as_str()));
        }
        assert_eq!(model_from_pb(0), None);
        assert_eq!(model_from_pb(999), None);
    }
}
