#!/usr/bin/ruby
# register.rb USER_ID TENANT_ID: ActiveRecord's validates_uniqueness_of, as a
# Rails model uses it.
#
# The model validates that a membership is unique per (user_id, tenant_id)
# and the program creates one, as a signup request would. The validation is
# a SELECT inside the save's transaction, before the INSERT: under
# concurrency every request can pass it (Bailis et al., "Feral Concurrency
# Control", SIGMOD 2015). Only a unique index closes the race; then the
# loser's INSERT fails with 23505 and ActiveRecord raises
# ActiveRecord::RecordNotUnique (exit 1).
#
# The connection comes from the environment pgrace gives an application flow
# (PGHOST, PGPORT, PGUSER, PGDATABASE; libpq takes PGOPTIONS and PGPASSFILE
# itself): nothing in it knows about pgrace.
require "active_record"

ActiveRecord::Base.establish_connection(
  adapter: "postgresql",
  host: ENV["PGHOST"],
  port: ENV["PGPORT"],
  database: ENV.fetch("PGDATABASE", "postgres"),
  username: ENV["PGUSER"]
)

class Membership < ActiveRecord::Base
  self.table_name = "user_tenant_membership"
  validates_uniqueness_of :user_id, scope: :tenant_id
end

if ARGV.length != 2
  warn "usage: register.rb USER_ID TENANT_ID"
  exit 2
end
m = Membership.create!(user_id: Integer(ARGV[0]), tenant_id: Integer(ARGV[1]), role: "member")
puts "created #{m.id}"
