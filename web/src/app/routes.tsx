// The pages by path. The booking pages are in the initial bundle (the first page most
// people see); the others load when opened.
import { lazy } from "react";
import type { Route } from "./router";
import { BookingPage } from "../features/booking/BookingPage";
import { SpecialistsPage } from "../features/specialists/SpecialistsPage";

const ConfirmationPage = lazy(() => import("../features/booking/ConfirmationPage"));
const ManagePage = lazy(() => import("../features/manage/ManagePage"));
const WaitingRoomPage = lazy(() => import("../features/waiting-room/WaitingRoomPage"));
const SignInPage = lazy(() => import("../features/specialist/SignInPage"));
const VerifyPage = lazy(() => import("../features/specialist/VerifyPage"));
const DashboardPage = lazy(() => import("../features/specialist/DashboardPage"));
const SchedulePage = lazy(() => import("../features/specialist/SchedulePage"));
const ServicesPage = lazy(() => import("../features/specialist/ServicesPage"));
const HistoryPage = lazy(() => import("../features/specialist/HistoryPage"));
const CalendarsPage = lazy(() => import("../features/specialist/CalendarsPage"));
const TeamBookingPage = lazy(() => import("../features/teams/TeamBookingPage"));
const AdminSignInPage = lazy(() => import("../features/admin/AdminSignInPage"));
const TeamsAdminPage = lazy(() => import("../features/admin/TeamsAdminPage"));
const WebhooksPage = lazy(() => import("../features/admin/WebhooksPage"));

export const routes: Route[] = [
  { path: "/", render: () => <SpecialistsPage /> },
  { path: "/book/:specialist", render: (p) => <BookingPage specialistId={p.specialist ?? ""} /> },
  {
    path: "/embed/:specialist",
    render: (p) => <BookingPage specialistId={p.specialist ?? ""} embedded />,
  },
  {
    path: "/bookings/:booking/confirmation",
    render: (p) => <ConfirmationPage bookingId={p.booking ?? ""} />,
  },
  { path: "/bookings/:booking", render: (p) => <ManagePage bookingId={p.booking ?? ""} /> },
  {
    path: "/bookings/:booking/join",
    render: (p) => <WaitingRoomPage bookingId={p.booking ?? ""} />,
  },
  { path: "/sign-in", render: () => <SignInPage /> },
  { path: "/sign-in/verify", render: () => <VerifyPage /> },
  { path: "/dashboard", render: () => <DashboardPage /> },
  { path: "/schedule", render: () => <SchedulePage /> },
  { path: "/services", render: () => <ServicesPage /> },
  { path: "/history", render: () => <HistoryPage /> },
  { path: "/calendars", render: () => <CalendarsPage /> },
  { path: "/teams/:team", render: (p) => <TeamBookingPage teamId={p.team ?? ""} /> },
  { path: "/admin", render: () => <TeamsAdminPage /> },
  { path: "/admin/sign-in", render: () => <AdminSignInPage /> },
  { path: "/admin/teams", render: () => <TeamsAdminPage /> },
  { path: "/admin/webhooks", render: () => <WebhooksPage /> },
];
