#include "record_index.h"

#include <cmath>

namespace crmsync::client::internal {
namespace {

void AddText(std::string* text, const std::string& part) {
  if (part.empty()) return;
  if (!text->empty()) text->push_back(' ');
  *text += part;
}

}  // namespace

RecordIndex IndexOf(const v1::RecordState& state) {
  RecordIndex ix;
  ix.changed_ms = state.hlc().wall_time_ms();
  const v1::Record& r = state.data();
  switch (r.entity_case()) {
    case v1::Record::kAccount: {
      const auto& e = r.account();
      ix.owner = e.owner_user_id();
      ix.name = e.name();
      for (const auto& s : {e.name(), e.industry(), e.notes()}) AddText(&ix.text, s);
      break;
    }
    case v1::Record::kContact: {
      const auto& e = r.contact();
      ix.owner = e.owner_user_id();
      ix.name = e.first_name() + " " + e.last_name();
      ix.parent_id = e.account_id();
      for (const auto& s : {e.first_name(), e.last_name(), e.email(), e.job_title(), e.notes()}) {
        AddText(&ix.text, s);
      }
      break;
    }
    case v1::Record::kLead: {
      const auto& e = r.lead();
      ix.owner = e.owner_user_id();
      ix.status = e.status();
      ix.name = e.first_name() + " " + e.last_name();
      for (const auto& s : {e.first_name(), e.last_name(), e.company(), e.email(), e.notes()}) {
        AddText(&ix.text, s);
      }
      break;
    }
    case v1::Record::kOpportunity: {
      const auto& e = r.opportunity();
      ix.owner = e.owner_user_id();
      ix.status = e.stage();
      ix.name = e.name();
      ix.parent_id = e.account_id();
      for (const auto& s : {e.name(), e.notes(), e.next_step()}) AddText(&ix.text, s);
      break;
    }
    case v1::Record::kActivity: {
      const auto& e = r.activity();
      ix.owner = e.owner_user_id();
      ix.status = e.type();
      ix.name = e.subject();
      ix.parent_id = e.related().id();
      if (e.has_occurred_at()) ix.starts_at = e.occurred_at().seconds();
      for (const auto& s : {e.subject(), e.body()}) AddText(&ix.text, s);
      break;
    }
    case v1::Record::kCalendarEvent: {
      const auto& e = r.calendar_event();
      ix.owner = e.owner_user_id();
      ix.status = e.status();
      ix.name = e.title();
      ix.parent_id = e.related().id();
      if (e.has_starts_at()) ix.starts_at = e.starts_at().seconds();
      if (e.has_ends_at()) ix.ends_at = e.ends_at().seconds();
      if (e.has_location()) {
        ix.lat = e.location().latitude();
        ix.lon = e.location().longitude();
      }
      for (const auto& s : {e.title(), e.description(), e.location_text()}) AddText(&ix.text, s);
      break;
    }
    case v1::Record::kCoupon: {
      const auto& e = r.coupon();
      ix.status = e.active() ? 1 : 0;
      ix.name = e.title();
      ix.parent_id = e.campaign_id();
      if (e.has_valid_from()) ix.starts_at = e.valid_from().seconds();
      if (e.has_valid_until()) ix.ends_at = e.valid_until().seconds();
      if (e.geofence().has_circle()) {
        ix.lat = e.geofence().circle().center().latitude();
        ix.lon = e.geofence().circle().center().longitude();
        ix.radius_m = e.geofence().circle().radius_m();
      }
      for (const auto& s : {e.title(), e.description(), e.code()}) AddText(&ix.text, s);
      break;
    }
    case v1::Record::kRedemption:
      ix.name = r.redemption().coupon_id();
      ix.status = r.redemption().status();
      ix.parent_id = r.redemption().coupon_id();
      break;
    case v1::Record::kLoyaltyAccount:
      ix.name = r.loyalty_account().customer_name();
      ix.parent_id = r.loyalty_account().contact_id();
      AddText(&ix.text, r.loyalty_account().customer_name());
      AddText(&ix.text, r.loyalty_account().card_number());
      break;
    case v1::Record::kConflict:
      ix.owner = r.conflict().owner_user_id();
      ix.status = r.conflict().status();
      ix.name = r.conflict().field_path();
      ix.parent_id = r.conflict().record().id();
      break;
    case v1::Record::kCustomField:
      ix.name = r.custom_field().id();
      ix.status = r.custom_field().removed() ? 1 : 0;
      AddText(&ix.text, r.custom_field().label());
      break;
    case v1::Record::kPossibleDuplicate:
      ix.owner = r.possible_duplicate().owner_user_id();
      ix.name = r.possible_duplicate().record().id();
      ix.parent_id = r.possible_duplicate().record().id();
      break;
    case v1::Record::kStore: {
      const auto& e = r.store();
      ix.name = e.name();
      if (e.has_location()) {
        ix.lat = e.location().latitude();
        ix.lon = e.location().longitude();
      }
      AddText(&ix.text, e.name());
      break;
    }
    case v1::Record::ENTITY_NOT_SET: break;
  }
  return ix;
}

double HaversineMetres(double lat1, double lon1, double lat2, double lon2) {
  constexpr double kEarthRadiusM = 6371008.8;
  constexpr double kRad = M_PI / 180.0;
  const double dlat = (lat2 - lat1) * kRad;
  const double dlon = (lon2 - lon1) * kRad;
  const double a =
      std::sin(dlat / 2) * std::sin(dlat / 2) +
      std::cos(lat1 * kRad) * std::cos(lat2 * kRad) * std::sin(dlon / 2) * std::sin(dlon / 2);
  return 2 * kEarthRadiusM * std::asin(std::min(1.0, std::sqrt(a)));
}

}  // namespace crmsync::client::internal
