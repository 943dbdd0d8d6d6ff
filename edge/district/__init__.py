"""The district level: a site's uplink to the street office's clustered broker, and the street
office's service that follows every site (``gridedge district``)."""
